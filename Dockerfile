FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# DEBUG off, as at runtime, so WhiteNoise writes its manifest of hashed file names.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
RUN useradd --create-home portal
USER portal
EXPOSE 8000
# gunicorn.conf.py: bind, workers, timeouts and an access log without codes or tokens.
CMD ["gunicorn", "portal.wsgi:application"]
