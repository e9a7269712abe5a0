# One image for the migrations, the worker and the API: docker-compose.yml builds it once (as
# tenders:latest) and runs it three ways. .dockerignore keeps the context small.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY configs ./configs
COPY src ./src
COPY workers ./workers
RUN pip install --no-cache-dir .
USER nobody
