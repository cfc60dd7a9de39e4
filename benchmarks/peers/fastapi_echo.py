"""FastAPI echo on the same uvicorn: what a framework's routing costs.

Run: uvicorn fastapi_echo:app --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/echo")
async def echo(request: Request) -> Response:
    """Answer with the request body."""
    return Response(await request.body(), media_type="application/octet-stream")
