"""multipart/form-data bodies: image uploads and workload forms."""

from __future__ import annotations

import hashlib
import json

from multicloud_broker.fakecloud import multipart
from multicloud_broker.fakecloud.store import Doc
from multicloud_broker.fakecloud.web import HTTPError, Request, bad_request

FIELD_LIMIT = 1024 * 1024
IMAGE_FILE_FIELDS = ("file", "imageFile", "image")


class ImageSink:
    """Takes an uploaded image in chunks: its size and MD5 (Glance's checksum)."""

    def __init__(self) -> None:
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.md5.update(data)


def read_form(req: Request, boundary: str,
              file_fields: tuple[str, ...] = ()) -> tuple[dict[str, str], ImageSink | None]:
    """The form's text fields, and the file part (streamed) if one is wanted."""
    fields: dict[str, multipart.FieldSink] = {}
    upload: list[ImageSink] = []

    def open_part(name: str, filename: str | None) -> multipart.Sink:
        if file_fields and (filename is not None or name in file_fields):
            if upload:
                raise bad_request("only one image file may be uploaded")
            upload.append(ImageSink())
            return upload[0]
        if name in fields:
            raise bad_request(f"form field {name} is given twice")
        fields[name] = multipart.FieldSink(name, FIELD_LIMIT)
        return fields[name]

    multipart.read(req.stream, boundary, open_part)
    return {k: v.text() for k, v in fields.items()}, (upload[0] if upload else None)


def image_form(req: Request, boundary: str) -> tuple[Doc, ImageSink]:
    """Image metadata from the form's fields, and the received file."""
    form, upload = read_form(req, boundary, IMAGE_FILE_FIELDS)
    if upload is None:
        raise bad_request("the image file is mandatory (a part named file, "
                          "or any part with a filename)")
    body: Doc = dict(form)
    if "properties" in body:
        body["properties"] = json_field(body["properties"], "properties")
    return body, upload


def workload_form(req: Request, boundary: str) -> Doc:
    """A workload request sent as a form: template_type, template_data as JSON
    text, and template files (template, environment, ...) as parts."""
    form, _ = read_form(req, boundary)
    body: Doc = {k: v for k, v in form.items()}
    if "template_data" in body:
        body["template_data"] = json_field(body["template_data"], "template_data")
    data = body.get("template_data")
    if isinstance(data, dict):
        for key in ("template", "environment", "stack_name"):
            if key in body and key not in data:
                data[key] = body.pop(key)
    return body


def json_field(text: str, name: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        raise HTTPError(400, f"form field {name} is not valid JSON") from None
