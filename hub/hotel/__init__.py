"""The hotel's own data (issue 16): room types, rooms, guests, bookings, employees and shifts.

Pure logic (validation, ETags, the booking status rules, paging) and the database operations the
``/api/v1/hotel`` routes call; nothing here imports ``hub.api``. Errors are
:class:`~hub.hotel.errors.HotelError` with the HTTP status a route answers.
"""
