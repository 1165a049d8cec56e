"""Report definitions: loaded beside the catalog, checked against the template's typed parameters,
every problem named by file and field."""

from __future__ import annotations

import pytest

from amc_pipelines.catalog import CatalogError, load_catalog
from amc_pipelines.catalog.definitions import (
    BUILTIN_DEFINITIONS_DIR,
    check_definition_instances,
    get_definition,
    load_definitions,
)
from amc_pipelines.params import parameters_hash

CATALOG = load_catalog(check_sql=False)

GOOD = """\
name: acme_hero_asins
template: asin_performance
description: Acme's hero ASINs.
owner: acme-team@agency.example
parameters:
  asins: [B0ABCDEFGH, B0HGFEDCBA]
instances: [amcacme00001]
schedule: {cron: "0 7 * * 2", timezone: America/New_York}
"""


def _write(directory, text: str, file: str = "definition.yaml"):
    folder = directory / "definitions"
    folder.mkdir(exist_ok=True)
    (folder / file).write_text(text)
    return folder / file


def test_a_definition_carries_its_typed_parameters_instances_schedule_and_owner(tmp_path) -> None:
    _write(tmp_path, GOOD)
    definitions = load_definitions(CATALOG, tmp_path)
    acme = definitions["acme_hero_asins"]
    assert acme.template is CATALOG["asin_performance"] and not acme.implicit
    assert acme.parameters == {"asins": ["B0ABCDEFGH", "B0HGFEDCBA"]}
    assert acme.parameters_hash == parameters_hash({"asins": ["B0ABCDEFGH", "B0HGFEDCBA"]})
    assert acme.instances == ("amcacme00001",) and acme.applies_to("amcacme00001") and not acme.applies_to("amcother0001")
    assert (acme.schedule.cron, acme.schedule.timezone) == ("0 7 * * 2", "America/New_York")
    assert acme.owner == "acme-team@agency.example"
    # The template keeps its implicit definition: its name, its defaults, every instance.
    implicit = definitions["asin_performance"]
    assert implicit.implicit and implicit.parameters == {"asins": []} and implicit.instances is None
    assert implicit.parameters_hash != acme.parameters_hash
    assert get_definition("asin_performance", definitions) is implicit


def test_every_template_has_an_implicit_definition_and_the_builtin_examples_load() -> None:
    definitions = load_definitions(CATALOG)
    assert {name for name, d in definitions.items() if d.implicit} == set(CATALOG)
    examples = {d.name for d in definitions.values() if not d.implicit}
    assert examples == {p.stem for p in BUILTIN_DEFINITIONS_DIR.glob("*.yaml")} and examples
    large = definitions["reach_frequency_large_campaigns"]
    assert large.parameters == {"min_impressions": 1000} and large.schedule.cron == "30 6 * * 2"


def test_a_file_named_like_its_template_replaces_the_implicit_definition(tmp_path) -> None:
    _write(tmp_path, "name: campaign_performance\ntemplate: campaign_performance\ndescription: Only Acme.\n"
                     "instances: [amcacme00001]\n")
    definition = load_definitions(CATALOG, tmp_path)["campaign_performance"]
    assert not definition.implicit and definition.instances == ("amcacme00001",)
    assert definition.parameters == {"campaign_ids": []} and definition.schedule == CATALOG["campaign_performance"].schedule


BAD = [
    ("unknown-template", GOOD.replace("template: asin_performance", "template: asin_performanse"),
     "template: unknown report template 'asin_performanse'; did you mean 'asin_performance'?"),
    ("unknown-parameter", GOOD.replace("  asins: [", "  asin: ["), "parameters: unknown parameter 'asin'"),
    ("mistyped-parameter", GOOD.replace("asins: [B0ABCDEFGH, B0HGFEDCBA]", "asins: [b0abcdefgh]"),
     "parameters.asins: item 'b0abcdefgh' does not match"),
    ("wrong-type", "name: big\ntemplate: reach_frequency\ndescription: x\nparameters: {min_impressions: many}\n",
     "parameters.min_impressions: 'many' is not a whole number"),
    ("below-minimum", "name: big\ntemplate: reach_frequency\ndescription: x\nparameters: {min_impressions: -1}\n",
     "parameters.min_impressions: -1 is below the minimum 0"),
    ("bad-cron", GOOD.replace('"0 7 * * 2"', '"61 7 * * 2"'), "schedule.cron: '61 7 * * 2' is not a valid cron"),
    ("bad-time-zone", GOOD.replace("America/New_York", "America/New_Yrok"), "schedule.timezone: unknown time zone"),
    ("unknown-key", GOOD.replace("owner:", "ownr:"), "ownr: unknown key; did you mean 'owner'?"),
    ("missing-description", GOOD.replace("description: Acme's hero ASINs.\n", ""), "description: required but missing"),
    ("bad-name", GOOD.replace("name: acme_hero_asins", "name: Acme Hero"), "name: 'Acme Hero' is not a valid definition name"),
    ("template-name-of-another", GOOD.replace("name: acme_hero_asins", "name: campaign_performance"),
     "name: 'campaign_performance' is the name of the report template"),
    ("empty-instances", GOOD.replace("instances: [amcacme00001]", "instances: []"), "instances: an empty list applies to no instance"),
    ("instances-not-all", GOOD.replace("instances: [amcacme00001]", "instances: every"), "instances:"),
    ("malformed-yaml", "name: [acme\n", "malformed YAML"),
    ("not-a-mapping", "- acme\n", "expected a mapping of definition fields"),
]


@pytest.mark.parametrize(("text", "expected"), [(text, expected) for _, text, expected in BAD],
                         ids=[case for case, _, _ in BAD])
def test_a_bad_definition_is_refused_at_load_naming_file_and_field(tmp_path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError) as refused:
        load_definitions(CATALOG, tmp_path)
    assert any(problem.startswith(f"{path}: ") and expected in problem for problem in refused.value.problems), \
        refused.value.problems


def test_a_name_used_twice_is_refused_naming_both_files(tmp_path) -> None:
    first = _write(tmp_path, GOOD, "a.yaml")
    second = _write(tmp_path, GOOD.replace("B0HGFEDCBA", "B0ZZZZZZZZ"), "b.yaml")
    with pytest.raises(CatalogError) as refused:
        load_definitions(CATALOG, tmp_path)
    (problem,) = refused.value.problems
    assert problem.startswith(f"{second}: name: definition 'acme_hero_asins' is already defined in {first}")


def test_every_problem_of_every_file_is_reported_together(tmp_path) -> None:
    _write(tmp_path, GOOD.replace("template: asin_performance", "template: nope"), "a.yaml")
    _write(tmp_path, GOOD.replace('"0 7 * * 2"', '"0 7 * *"').replace("name: acme_hero_asins", "name: other"), "b.yaml")
    with pytest.raises(CatalogError) as refused:
        load_definitions(CATALOG, tmp_path)
    assert len(refused.value.problems) == 2


def test_an_instance_the_registry_does_not_know_is_refused_naming_file_and_field(tmp_path) -> None:
    path = _write(tmp_path, GOOD.replace("instances: [amcacme00001]", "instances: [amcacme00001, amcacme00002]"))
    definitions = load_definitions(CATALOG, tmp_path)
    check_definition_instances(definitions.values(), ["amcacme00001", "amcacme00002"])
    with pytest.raises(CatalogError) as refused:
        check_definition_instances(definitions.values(), ["amcacme00001"])
    (problem,) = refused.value.problems
    assert problem.startswith(f"{path}: instances[1]: unknown instance 'amcacme00002'")


def test_an_unknown_definition_name_suggests_the_closest(tmp_path) -> None:
    with pytest.raises(CatalogError, match="did you mean 'reach_frequency_large_campaigns'"):
        get_definition("reach_frequency_large_campaign", load_definitions(CATALOG))
