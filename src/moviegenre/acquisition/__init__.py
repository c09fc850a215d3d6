"""Data acquisition: build a movie table from IMDb's own files and pages, on the user's machine.

``imdb_basics`` filters IMDb's ``title.basics.tsv`` into the list of titles to fetch; ``scraper`` fetches
each title page politely and resumably for its poster, short description and genres.
"""
