"""What ``kubectl kustomize`` makes of deploy/, for the tests, without a kustomize binary.

It renders only the part of kustomize that deploy/ uses, and refuses anything else, so a
kustomization that grows a feature fails here instead of being rendered wrongly:

- ``resources`` (files, and folders holding a kustomization), ``components``;
- ``namespace`` (set on every namespaced object);
- ``patches`` given by ``path``: strategic merge of objects matched by kind and name, where
  maps merge, ``null`` deletes a key, and a list is replaced only where Kubernetes replaces
  it too (:data:`ATOMIC_LISTS`); a patch that reaches into any other list is refused.

The output was compared with kubectl kustomize (kustomize v5.5.0) for every overlay when
this was written; deploy/README.md says so.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "components", "namespace", "patches"}
# Lists that a strategic merge patch replaces whole (x-kubernetes-list-type: atomic, or no
# merge key): (kind, dotted path from the object's root).
ATOMIC_LISTS = {("HorizontalPodAutoscaler", "spec.metrics")}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}


class UnsupportedKustomization(ValueError):
    """deploy/ uses a kustomize feature this renderer does not implement."""


def load_objects(path: Path) -> list[Object]:
    """The objects of one YAML file (empty documents skipped)."""
    objects = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for doc in objects:
        if not isinstance(doc, dict) or "kind" not in doc:
            raise UnsupportedKustomization(f"{path}: a document without kind")
    return objects


def _kustomization(folder: Path) -> Object:
    data = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert isinstance(data, dict)
    unknown = set(data) - KUSTOMIZATION_KEYS
    if unknown:
        raise UnsupportedKustomization(f"{folder}: {', '.join(sorted(unknown))} not rendered")
    return data


def render(folder: Path, *, components: Iterable[Path] = ()) -> list[Object]:
    """The objects ``kubectl kustomize folder`` prints (``components`` added to its own)."""
    kustomization = _kustomization(folder)
    objects: list[Object] = []
    for entry in kustomization.get("resources", []):
        path = folder / entry
        objects.extend(render(path) if path.is_dir() else load_objects(path))
    for component in [*(folder / c for c in kustomization.get("components", [])), *components]:
        data = _kustomization(component)
        if data.get("kind") != "Component" or "namespace" in data:
            raise UnsupportedKustomization(f"{component}: not a plain Component")
        for entry in data.get("resources", []):
            objects.extend(load_objects(component / entry))
        _apply_patches(objects, component, data)
    _apply_patches(objects, folder, kustomization)
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = namespace
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        if key in seen:
            raise UnsupportedKustomization(f"{folder}: {key} appears twice")
        seen.add(key)
    return objects


def _apply_patches(objects: list[Object], folder: Path, kustomization: Object) -> None:
    for entry in kustomization.get("patches", []):
        if set(entry) != {"path"}:
            raise UnsupportedKustomization(f"{folder}: only `path` patches are rendered")
        for patch in load_objects(folder / entry["path"]):
            targets = [
                obj
                for obj in objects
                if obj["kind"] == patch["kind"]
                and obj["metadata"]["name"] == patch["metadata"]["name"]
            ]
            if len(targets) != 1:
                raise UnsupportedKustomization(
                    f"{folder / entry['path']}: {patch['kind']}/{patch['metadata']['name']} "
                    f"matches {len(targets)} objects"
                )
            _merge(targets[0], patch, kind=patch["kind"], path="")


def _merge(target: Object, patch: Object, *, kind: str, path: str) -> None:
    for key, value in patch.items():
        where = f"{path}.{key}" if path else key
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, kind=kind, path=where)
        elif isinstance(value, list) and key in target and (kind, where) not in ATOMIC_LISTS:
            raise UnsupportedKustomization(f"{kind} patch merges into list {where}")
        else:
            target[key] = copy.deepcopy(value)
