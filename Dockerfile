# The dashboard's image: web, worker, beat and the simulator all run from it (bin/*).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The code is imported from /app (templates, static files and locale live next to it).
    PYTHONPATH=/app \
    # Written at run time: collected static files, celery beat's schedule.
    DATA_DIR=/data

WORKDIR /app
COPY . .
RUN chmod 0755 bin/* \
 && pip install . \
 && DATA_DIR=/tmp/build python manage.py compiletranslations \
 && useradd --system --user-group --home-dir /data --no-create-home dashboard \
 && mkdir -p /data \
 && chown dashboard:dashboard /data

USER dashboard
EXPOSE 8000
CMD ["bin/web"]
