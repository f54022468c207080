"""English as a workshop reads it: day before month and a 24-hour clock, as on the machines'
controllers and in CWork (Django's English formats are American)."""

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
FIRST_DAY_OF_WEEK = 1  # Monday, as ISO weeks and the shift calendars
