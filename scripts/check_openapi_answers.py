#!/usr/bin/env python3
"""Checks recorded answers of `handoff serve` against its OpenAPI document.

Usage: check_openapi_answers.py DOCUMENT.json ANSWERS.json

ANSWERS.json is a list of {"method", "path", "status", "content_type",
"body"}: `path` is the documented path template (e.g. /v1/accounts/{id}),
`body` the parsed JSON of the answer, or its text when it is not JSON.

For each answer, independently of the service's code:
- the operation must document the status and the answer's content type;
- a JSON body must validate against the documented schema, with the OpenAPI
  3.1 dialect of openapi-schema-validator and its format checks
  (date-time...);
- every field of every object in the body must be declared by the schema
  (a property, or a map's additionalProperties): a field the handler sends
  but the document does not name is reported, because plain JSON Schema
  would let it pass.

Prints one line per problem and exits 1 if there is any, else prints a
summary and exits 0.
"""

import json
import sys

from openapi_schema_validator import OAS31Validator, oas31_format_checker


def main(doc_path, answers_path):
    doc = json.load(open(doc_path))
    answers = json.load(open(answers_path))
    problems = []
    for n, answer in enumerate(answers):
        where = f"answer {n}: {answer['method'].upper()} {answer['path']} {answer['status']}"
        problems += [f"{where}: {p}" for p in check(doc, answer)]
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"{len(answers)} answers fit the document")
    return 0


def check(doc, answer):
    op = doc["paths"].get(answer["path"], {}).get(answer["method"].lower())
    if op is None:
        return ["the document has no such operation"]
    response = op["responses"].get(str(answer["status"]))
    if response is None:
        return [f"status not documented (documented: {sorted(op['responses'])})"]
    response = resolve(doc, response)
    actual = normalise(answer["content_type"])
    content = {normalise(k): v for k, v in response.get("content", {}).items()}
    if actual not in content:
        return [f"content type {actual!r} not documented (documented: {sorted(content)})"]
    schema = content[actual].get("schema")
    if schema is None or not isinstance(answer["body"], (dict, list)):
        return []
    validator = validator_for(doc, schema)
    errors = [
        f"{path_of(e.absolute_path)}: {e.message}"
        for e in sorted(validator.iter_errors(answer["body"]), key=str)
    ]
    if errors:
        return errors
    return [f"{p}: field not declared by the document" for p in undeclared(doc, answer["body"], schema, "$")]


def normalise(content_type):
    return ";".join(part.strip() for part in content_type.lower().split(";"))


def resolve(doc, node):
    """Follows local $refs (#/components/...) to the node they name."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
        seen += 1
        if seen > 50:
            raise ValueError("a $ref cycle")
    return node


def validator_for(doc, schema):
    # The components ride along with the schema, so that its
    # #/components/schemas/... references resolve inside it.
    root = dict(schema)
    root["components"] = doc["components"]
    return OAS31Validator(root, format_checker=oas31_format_checker)


def fits(doc, instance, schema):
    return validator_for(doc, schema).is_valid(instance)


def declared(doc, instance, schema):
    """The properties an object schema names, through allOf and the oneOf
    and anyOf branches the instance fits; and its additionalProperties
    schema, when it is a map. Returns (properties, map_schema, free)."""
    schema = resolve(doc, schema)
    if not isinstance(schema, dict):
        return {}, None, schema is True
    props = dict(schema.get("properties", {}))
    extra = schema.get("additionalProperties")
    map_schema = extra if isinstance(extra, dict) else None
    free = extra is True
    for sub in schema.get("allOf", []):
        p, m, f = declared(doc, instance, sub)
        props.update(p)
        map_schema = map_schema or m
        free = free or f
    for key in ("oneOf", "anyOf"):
        for sub in schema.get(key, []):
            if fits(doc, instance, sub):
                p, m, f = declared(doc, instance, sub)
                props.update(p)
                map_schema = map_schema or m
                free = free or f
    return props, map_schema, free


def undeclared(doc, instance, schema, path):
    out = []
    schema = resolve(doc, schema)
    if isinstance(instance, dict):
        props, map_schema, free = declared(doc, instance, schema)
        if not props and map_schema is None and not has_closed(schema):
            # A free-form object (e.g. the OpenAPI document itself).
            return out
        for key, value in instance.items():
            if key in props:
                out += undeclared(doc, value, props[key], f"{path}.{key}")
            elif map_schema is not None:
                out += undeclared(doc, value, map_schema, f"{path}.{key}")
            elif not free:
                out.append(f"{path}.{key}")
    elif isinstance(instance, list):
        for i, item, item_schema in item_schemas(doc, instance, schema):
            out += undeclared(doc, item, item_schema, f"{path}[{i}]")
    return out


def has_closed(schema):
    return isinstance(schema, dict) and schema.get("additionalProperties") is False


def item_schemas(doc, instance, schema):
    """(index, item, its schema) for each item of an array, through the
    oneOf/anyOf branches the array fits."""
    schema = resolve(doc, schema)
    if not isinstance(schema, dict):
        return []
    for key in ("oneOf", "anyOf"):
        for sub in schema.get(key, []):
            sub_r = resolve(doc, sub)
            if isinstance(sub_r, dict) and sub_r.get("type") in ("array", ["array", "null"]):
                if fits(doc, instance, sub):
                    return item_schemas(doc, instance, sub)
    prefix = schema.get("prefixItems", [])
    items = schema.get("items")
    out = []
    for i, item in enumerate(instance):
        sub = prefix[i] if i < len(prefix) else items
        if isinstance(sub, dict):
            out.append((i, item, sub))
    return out


def path_of(parts):
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
