FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# DEBUG off, as at runtime, so WhiteNoise writes its manifest of hashed file names.
# The keys are throwaway placeholders: collectstatic reads no secret; the runtime environment sets real ones.
RUN SECRET_KEY=collectstatic-only-placeholder-never-used-at-runtime-0123456789 \
    FIELD_ENCRYPTION_KEY=Y29sbGVjdHN0YXRpYy1vbmx5LXBsYWNlaG9sZGVyLTA= \
    python manage.py collectstatic --noinput --skip-checks
RUN useradd --create-home portal
USER portal
EXPOSE 8000
# gunicorn.conf.py: bind, workers, timeouts and an access log without codes or tokens.
CMD ["gunicorn", "portal.wsgi:application"]
