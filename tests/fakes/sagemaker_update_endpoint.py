"""A fake of SageMaker's ``UpdateEndpoint`` in front of moto, which lacks it.

**Which server is which:** every request goes to the real moto server except
``UpdateEndpoint`` (``X-Amz-Target: SageMaker.UpdateEndpoint``), which this
proxy answers itself. Its request is validated against botocore's service
model for SageMaker (the same JSON shapes AWS documents; a violation is a
400 ``ValidationException``, as AWS answers) and so is its response. The
effect is emulated on moto with calls moto has: the endpoint is deleted and
created again under the same name with the new endpoint config (so its ARN,
derived from the name, stays the same), which is what UpdateEndpoint leaves
behind once SageMaker's blue/green update is done. A missing endpoint or
config is answered as AWS does (``ValidationException``).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.session
from botocore.validate import ParamValidator

TARGET = "SageMaker.UpdateEndpoint"
_MODEL = botocore.session.get_session().get_service_model("sagemaker").operation_model("UpdateEndpoint")


def _problems(params: Any, shape: Any) -> str | None:
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else None


class UpdateEndpointFake:
    def __init__(self, moto_url: str, region: str):
        self.moto_url = moto_url.rstrip("/")
        self.region = region
        self.calls: list[dict[str, Any]] = []

    def update_endpoint(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if (problem := _problems(params, _MODEL.input_shape)) is not None:
            return 400, {"__type": "ValidationException", "message": problem}
        self.calls.append(params)
        sm = boto3.client("sagemaker", region_name=self.region, endpoint_url=self.moto_url)
        from botocore.exceptions import ClientError

        try:
            sm.describe_endpoint_config(EndpointConfigName=params["EndpointConfigName"])
            sm.describe_endpoint(EndpointName=params["EndpointName"])
            sm.delete_endpoint(EndpointName=params["EndpointName"])
            arn = sm.create_endpoint(
                EndpointName=params["EndpointName"], EndpointConfigName=params["EndpointConfigName"]
            )["EndpointArn"]
        except ClientError as exc:
            return 400, {"__type": "ValidationException", "message": exc.response["Error"]["Message"]}
        answer = {"EndpointArn": arn}
        problem = _problems(answer, _MODEL.output_shape)
        assert problem is None, problem
        return 200, answer


@contextmanager
def update_endpoint_proxy(moto_url: str, region: str) -> Iterator[tuple[str, UpdateEndpointFake]]:
    """The proxy's URL (use it as the SageMaker endpoint_url) and the fake behind it."""
    fake = UpdateEndpointFake(moto_url, region)

    class Handler(BaseHTTPRequestHandler):
        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("x-amz-target") == TARGET:
                status, answer = fake.update_endpoint(json.loads(body or b"{}"))
                self._send(status, json.dumps(answer).encode(), "application/x-amz-json-1.1")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            request = urllib.request.Request(
                fake.moto_url + self.path, data=body or None, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    self._send(answer.status, answer.read(), answer.headers.get("content-type"))
            except urllib.error.HTTPError as exc:
                self._send(exc.code, exc.read(), exc.headers.get("content-type"))

        def _send(self, status: int, body: bytes, content_type: str | None) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _relay

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", fake
    finally:
        server.shutdown()
        server.server_close()
