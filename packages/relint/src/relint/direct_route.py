"""A hot JSON route served without FastAPI's general request machinery.

FastAPI answers a request by solving the route's dependency tree, validating every
parameter and revalidating the answer through code written for any route; for ingest's
single-interaction POST that cost ~80 us of the ~145 us its HTTP layer took (measured in
process, the write replaced by an answer). `DirectJsonRoute` stands in front of one such
route and serves the common request, a JSON body with none of the route's optional
headers, by calling the same endpoint function with the same FastAPI helpers for the body
and the answer (`request_body_to_args`, `serialize_response`), so values, errors and
answers are FastAPI's own. Any other request (no body or no length, another media type, a
body with a Content-Encoding, an optional header present, another method) is left to the
FastAPI route behind it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, serialize_response
from starlette.routing import Match, Route
from starlette.types import Scope

_JSON = b"application/json"


class DirectJsonRoute(Route):
    """Serves `api_route`'s common requests directly; see the module's docstring. The
    route may take the request, the response, dependencies that take only the request
    (an API-key scheme), optional headers, and one JSON body; nothing else. It sees the
    route's own signature only: install it with `serve_directly`, which refuses an app with
    dependencies of its own, and include the route's router without extra dependencies."""

    def __init__(self, api_route: APIRoute) -> None:
        dependant = api_route.dependant
        if (
            dependant.path_params
            or dependant.query_params
            or dependant.cookie_params
            or len(dependant.body_params) != 1
            or api_route.body_field is None
            or getattr(api_route.body_field.field_info, "embed", False)
            or not inspect.iscoroutinefunction(dependant.call)
            or any(field.field_info.is_required() for field in dependant.header_params)
            or not all(_takes_only_the_request(sub) for sub in dependant.dependencies)
        ):
            raise ValueError(f"{api_route.path} takes more than a direct route serves")
        self.api_route = api_route
        self._dependencies: list[tuple[str, Callable[..., Any], str | None]] = [
            (str(sub.name), sub.call, sub.request_param_name)
            for sub in dependant.dependencies
            if sub.call is not None
        ]
        self._headers = [
            (field.alias.lower().encode("latin-1"), field.name, field.get_default())
            for field in dependant.header_params
        ]
        self._header_names = frozenset(name for name, _, _ in self._headers)
        self._body_fields = [api_route.body_field]
        super().__init__(api_route.path, self._serve, methods=list(api_route.methods or ()))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.FULL:
            return Match.NONE, {}
        json_body = False
        length = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                json_body = value.split(b";", 1)[0].strip().lower() == _JSON
            elif name == b"content-length":
                length = value
            elif name in self._header_names or name == b"content-encoding":
                return Match.NONE, {}
        if not json_body or not length.isdigit() or not int(length):
            return Match.NONE, {}
        return match, child_scope

    async def _serve(self, request: Request) -> Response:
        route = self.api_route
        dependant = route.dependant
        body = await request.body()
        # As FastAPI reads a JSON body: before anything else, with the same errors.
        try:
            received = json.loads(body)
        except json.JSONDecodeError as error:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", error.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": error.msg},
                    }
                ],
                body=error.doc,
            ) from error
        except Exception as error:  # not UTF-8, too deep: FastAPI's answer to those
            raise HTTPException(400, "There was an error parsing the body") from error
        arguments: dict[str, Any] = {}
        for name, call, request_name in self._dependencies:
            value = call(**{request_name: request}) if request_name else call()
            arguments[name] = await value if inspect.isawaitable(value) else value
        for _, name, default in self._headers:
            arguments[name] = default
        values, errors = await request_body_to_args(self._body_fields, received, False)
        if errors:
            raise RequestValidationError(errors, body=received)
        arguments.update(values)
        response = Response()
        del response.headers["content-length"]
        response.status_code = None  # type: ignore[assignment]
        if dependant.request_param_name:
            arguments[dependant.request_param_name] = request
        if dependant.response_param_name:
            arguments[dependant.response_param_name] = response
        assert dependant.call is not None
        answer = await dependant.call(**arguments)
        content = await serialize_response(
            field=route.response_field,
            response_content=answer,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
            dump_json=True,
        )
        served = Response(
            content,
            status_code=response.status_code or route.status_code or 200,
            media_type="application/json",
        )
        served.headers.raw.extend(response.headers.raw)
        return served


def _takes_only_the_request(sub: Any) -> bool:
    """A dependency this route can call itself: a plain (not generator) callable of at most
    the request, with no dependencies of its own."""
    call: Callable[..., Any] | None = sub.call
    return (
        sub.name is not None
        and call is not None
        and not any(
            inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f)
            for f in (call, type(call).__call__)
        )
        and not (
            sub.dependencies
            or sub.body_params
            or sub.header_params
            or sub.query_params
            or sub.path_params
            or sub.cookie_params
            or sub.response_param_name
            or sub.security_scopes_param_name
            or sub.background_tasks_param_name
        )
    )


def serve_directly(app: FastAPI, api_route: APIRoute) -> None:
    """Puts a `DirectJsonRoute` for `api_route` in front of the app's routes."""
    if app.router.dependencies:
        raise ValueError("the app has dependencies of its own, which a direct route would skip")
    app.router.routes.insert(0, DirectJsonRoute(api_route))
