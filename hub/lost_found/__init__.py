"""Lost & found (issue 16 item 5): lost reports, found items with their photos in the image
search, matches the hub scores itself (image embeddings and description text), and staff's
confirmation before the guest is told. One job per module:

- ``states``: the statuses of reports, found items and matches, and the allowed moves;
- ``text``: description similarity (shared words);
- ``scoring``: one explained score from the image and text similarities;
- ``photos``: the photos' storage and similarities through hub/vision/image_search.py;
- ``records``: reports and found items in the database (create, read, list, status moves);
- ``matching``: proposing matches for a report or a found item, and deciding them.
"""
