"""The run's inputs resolved once: config, catalog and the rules validated against it, and
the planning settings derived from the config. Every command that needs rules loads them
here, so the label prefixes and per-source link templates are applied the same way
everywhere (a rule naming an unknown KR is a ConfigError, exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.model import Catalog
from mappings.rules import RuleSet, load_rules
from syncer.catalog import load_catalog
from syncer.config import Config
from syncer.plan import PlanSettings


@dataclass(frozen=True)
class Inputs:
    config: Config
    catalog: Catalog
    rules: RuleSet

    @property
    def plan_settings(self) -> PlanSettings:
        return plan_settings(self.config)


def resolve_inputs(config: Config) -> Inputs:
    """Catalog and rules, validated together."""
    catalog = load_catalog(config.catalog_path)
    return Inputs(config, catalog, rules_of(config, catalog))


def rules_of(config: Config, catalog: Catalog) -> RuleSet:
    """The rules file, read with the config's explicit prefix, checked against `catalog`."""
    return load_rules(config.rules_path, catalog, explicit_prefix=config.labels.explicit_prefix)


def plan_settings(config: Config) -> PlanSettings:
    """Each source's goal links use its own `link_url_template`, taken from every configured
    source (not only those synced now), so `sync --source X` plans the same links as `sync`."""
    return PlanSettings(
        explicit_prefix=config.labels.explicit_prefix,
        managed_prefix=config.labels.managed_prefix,
        ktlo=tuple(config.labels.ktlo),
        source_link_templates=link_templates(config),
    )


def link_templates(config: Config) -> dict[str, str]:
    """Per source, its `link_url_template` (the only place the setting is read)."""
    return {n: s.link_url_template for n, s in config.sources.items() if s.link_url_template}
