"""Revenue management and guest models for the hub (DESIGN §3 ``hub/ml/``).

Pure logic (pandas, numpy, LightGBM, scikit-learn, SciPy; no database, no HTTP):

- ``schema`` and ``hotel_bookings``: the public "Hotel booking demand" dataset's columns and
  a loader for its CSV;
- ``synthetic``: a seeded hotel simulator producing a history in that schema and in ours;
- ``history``: the in-memory booking history every model trains on (:class:`History`), with
  ``truncate`` for time splits; ``daily``: nightly actuals and on-the-books positions;
- ``features`` (no leakage, time splits), ``forecasting``, ``pricing``, ``cancellation``,
  ``clv``, ``recommend``; ``training``: train, evaluate on the latest window,
  champion / challenger; ``plots``: matplotlib figures (Agg canvas);
- ``config`` (frozen pydantic), ``errors``, ``results`` (response models, the seed API's
  shapes), ``catalog``; ``terms``: the seed API's vocabulary (booking source, payment method,
  guest segment) mapped onto the dataset's; ``metrics``: the ``innsight_ml_*`` Prometheus families.

Adapters: ``repository`` (hub database <-> :class:`History`, prediction log, model records),
``registry`` (model files, verified by sha256), ``service`` (the async facade the API and the
CLI call, one class put together from one module per job: ``service_core`` (history cache,
promoted models, prediction log, request checks), ``service_forecast``, ``service_pricing``,
``service_guests`` (cancellation risk, lifetime value), ``service_recommend`` and
``service_training`` (retrain, model status, ML health)), ``api`` (what the routes
import: a lazy provider, so the hub starts without the ML dependencies) and ``cli``
(``innsight ml``).
"""
