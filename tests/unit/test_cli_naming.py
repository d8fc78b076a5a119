"""Names and provenance derived from CI variables: stable per run, distinct per repository."""

from __future__ import annotations

import re

import pytest

from devenv_cli import naming

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def github(repo: str, ref: str = "refs/pull/1234/merge", run: str = "777") -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": repo, "GITHUB_REF": ref,
            "GITHUB_RUN_ID": run, "GITHUB_SHA": "abc123",
            "GITHUB_SERVER_URL": "https://github.example"}


def gitlab(path: str, mr: str | None = "42", pipeline: str = "9001") -> dict[str, str]:
    env = {"GITLAB_CI": "true", "CI_PROJECT_PATH": path, "CI_PIPELINE_ID": pipeline,
           "CI_COMMIT_SHA": "def456", "CI_PIPELINE_URL": "https://gitlab.example/p/9001"}
    if mr:
        env["CI_MERGE_REQUEST_IID"] = mr
    return env


def test_a_github_pull_request_is_named_after_the_repository_and_the_number() -> None:
    name, prov = naming.derive(github("acme/shop"))
    assert re.fullmatch(r"shop-pr-1234-[0-9a-f]{6}", name)
    assert (prov.provider, prov.repository, prov.change, prov.pipeline) == (
        "github", "acme/shop", "1234", "777")
    assert prov.run_url == "https://github.example/acme/shop/actions/runs/777"


def test_the_same_pull_request_number_in_two_repositories_gives_two_names() -> None:
    one, _ = naming.derive(github("acme/shop"))
    other, _ = naming.derive(github("globex/shop"))  # same slug, same number
    assert one != other
    assert one.startswith("shop-pr-1234-")
    assert other.startswith("shop-pr-1234-")


def test_a_rerun_of_the_same_pull_request_gets_the_same_name() -> None:
    first, _ = naming.derive(github("acme/shop", run="1"))
    again, _ = naming.derive(github("acme/shop", run="2"))
    assert first == again


def test_a_github_push_is_named_after_the_run() -> None:
    name, prov = naming.derive(github("acme/shop", ref="refs/heads/main", run="99"))
    assert re.fullmatch(r"shop-run-99-[0-9a-f]{6}", name)
    assert prov.change is None


def test_gitlab_merge_requests_and_pipelines() -> None:
    mr, prov = naming.derive(gitlab("group/sub/shop"))
    assert re.fullmatch(r"shop-mr-42-[0-9a-f]{6}", mr)
    assert prov.repository == "group/sub/shop"
    pipeline, _ = naming.derive(gitlab("group/sub/shop", mr=None))
    assert re.fullmatch(r"shop-pipeline-9001-[0-9a-f]{6}", pipeline)
    assert mr != naming.derive(gitlab("other/shop"))[0]


def test_github_and_gitlab_with_the_same_path_and_number_do_not_collide() -> None:
    gh, _ = naming.derive(github("acme/shop", ref="refs/pull/42/merge"))
    gl, _ = naming.derive(gitlab("acme/shop", mr="42"))
    assert gh.split("-")[-1] != gl.split("-")[-1]


@pytest.mark.parametrize("repo", [
    "Acme/My_Very.Long.Repository.Name.With.Dots_And_Underscores-and-more-and-more",
    "a/b", "ACME/--weird--", "x/" + "z" * 300])
def test_derived_names_are_dns_labels_that_leave_room_for_the_namespace_prefix(
        repo: str) -> None:
    name, _ = naming.derive(github(repo, ref="refs/pull/123456789/merge"))
    assert DNS_LABEL.match(name), name
    assert len(name) <= naming.MAX_GENERATED
    assert len("dev-" + name) <= 63
    assert "123456789" in name  # the number survives; the slug gives way


def test_tekton_or_a_plain_shell_needs_a_prefix() -> None:
    with pytest.raises(naming.NamingError, match="--name-prefix"):
        naming.derive({})
    stable, prov = naming.derive({}, prefix="shop", ident="run-abc12")
    assert re.fullmatch(r"shop-run-abc12-[0-9a-f]{6}", stable)
    assert stable == naming.derive({}, prefix="shop", ident="run-abc12")[0]
    assert prov.provider == "generic"
    random_one, _ = naming.derive({}, prefix="shop")
    random_two, _ = naming.derive({}, prefix="shop")
    assert random_one.startswith("shop-")
    assert random_one != random_two


def test_an_explicit_prefix_replaces_the_repository_slug_but_not_its_hash() -> None:
    one, _ = naming.derive(github("acme/shop"), prefix="web")
    other, _ = naming.derive(github("globex/shop"), prefix="web")
    assert one.startswith("web-pr-1234-")
    assert one != other


def test_provenance_becomes_label_safe_labels_and_verbatim_annotations() -> None:
    _, prov = naming.derive(gitlab("group/sub/shop"))
    assert prov.labels() == {
        "shipit.dev/ci-provider": "gitlab", "shipit.dev/ci-repository": "group.sub.shop",
        "shipit.dev/ci-change": "42", "shipit.dev/ci-pipeline": "9001"}
    assert prov.annotations()["shipit.dev/ci-repository"] == "group/sub/shop"
    assert prov.annotations()["shipit.dev/ci-commit"] == "def456"
    for value in prov.labels().values():
        assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", value)


def test_a_github_run_without_a_repository_is_not_recognised() -> None:
    assert naming.detect({"GITHUB_ACTIONS": "true"}) is None
    assert naming.detect({"GITLAB_CI": "false", "CI_PROJECT_PATH": "a/b"}) is None


@pytest.mark.parametrize(("name", "ok"), [
    ("pr-1", True), ("1abc", True), ("Pr-1", False), ("pr_1", False), ("-pr", False),
    ("a" * 63, True), ("a" * 64, False)])
def test_check_name(name: str, ok: bool) -> None:
    assert (naming.check_name(name) is None) == ok
