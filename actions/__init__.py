"""The write path to CWork: a supervisor's actions on a station, checked, sent once, audited
and re-read, and the pages that read their audit trail.

Above ``stations`` (the mirror it writes to and re-reads), ``accounts`` (who may act) and
``audit`` (the trail's rows); nothing but the project's URLs imports it.
"""
