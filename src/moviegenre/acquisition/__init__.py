"""Data acquisition: build a movie table from IMDb's own files and pages, on the user's machine.

``imdb_basics`` filters IMDb's ``title.basics.tsv`` into the list of titles to fetch; ``scraper`` fetches
each title page politely and resumably for its poster, short description and genres.
"""

import re

# An IMDb title id: what 'imdb basics' keeps and 'scrape' fetches. [0-9], not \d: Python's \d takes any script's digits.
IMDB_ID = re.compile(r"tt[0-9]{7,}")
