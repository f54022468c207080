"""The audit trail's rows (one per action attempt), their admin and their table.

Written by ``actions.services`` and read by the trail's pages in ``actions``; it imports
nothing of either (the app label, table and admin address stay ``audit``).
"""
