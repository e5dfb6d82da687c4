"""A second organisation for measuring suggestions: the sandbox's epics with every title and
description rewritten in other words — paraphrases, synonyms and other languages' words for
the same things — so a suggester that only learned the generator's templates would fail.

Labels, projects, components and links stay as generated: the organisation's links are the
answers; only the text people wrote changes.
"""

from __future__ import annotations

import random
from typing import Any

from sandbox.data import THEMES, UNTRACEABLE, generate

# thing -> other ways people write it (English paraphrases, German, French, Spanish, Dutch)
PARAPHRASES: dict[str, tuple[str, ...]] = {
    "one-page checkout": ("single-step purchase flow", "Kasse auf einer Seite",
                          "paiement en une page", "compra en un solo paso"),
    "saved cards": ("remember payment methods", "gespeicherte Karten", "cartes enregistrées",
                    "tarjetas guardadas"),
    "Apple Pay in checkout": ("wallet pay at purchase", "Apple Pay an der Kasse",
                              "Apple Pay au paiement", "pago con monedero"),
    "cart recovery emails": ("abandoned basket reminders", "Warenkorb-Erinnerungen",
                             "relance panier abandonné", "recordatorio de carrito"),
    "payment retries": ("retry declined charges", "Zahlungswiederholung",
                        "nouvelle tentative de paiement", "reintento de cobro"),
    "address autocomplete": ("postal address completion", "Adressvervollständigung",
                             "saisie automatique d'adresse", "autocompletar dirección"),
    "guided first project": ("walkthrough for the first project", "geführtes erstes Projekt",
                             "premier projet accompagné", "primer proyecto guiado"),
    "social sign-up": ("register with Google or Apple", "Registrierung über soziale Konten",
                       "inscription via réseaux sociaux", "registro social"),
    "welcome checklist": ("getting-started to-do list", "Willkommens-Checkliste",
                          "liste de bienvenue", "lista de bienvenida"),
    "empty-state templates": ("starter templates for blank screens", "Vorlagen für leere Ansichten",
                              "modèles pour écrans vides", "plantillas de inicio"),
    "invite teammates step": ("ask colleagues to join", "Kollegen einladen",
                              "inviter ses collègues", "invitar compañeros"),
    "typo-tolerant search": ("fuzzy matching for queries", "fehlertolerante Suche",
                             "recherche tolérante aux fautes", "búsqueda tolerante a errores"),
    "search ranking v2": ("better result ordering", "Suchergebnis-Sortierung",
                          "classement des résultats", "orden de resultados"),
    "faceted filters": ("narrow results by attribute", "Facettenfilter", "filtres à facettes",
                        "filtros por faceta"),
    "incremental indexing": ("index updates as they happen", "inkrementelle Indizierung",
                             "indexation incrémentale", "indexación incremental"),
    "zero-result suggestions": ("hints when nothing is found", "Vorschläge ohne Treffer",
                                "propositions sans résultat", "sugerencias sin resultados"),
    "multi-region failover": ("survive a region outage", "regionsübergreifendes Failover",
                              "bascule multi-région", "conmutación entre regiones"),
    "p95 latency budget": ("keep tail response times low", "Antwortzeit-Budget",
                           "budget de temps de réponse", "presupuesto de tiempo de respuesta"),
    "connection pooling": ("reuse database connections", "Verbindungs-Pool",
                           "mutualisation des connexions", "reutilizar conexiones"),
    "SLO alerting": ("page on error-budget burn", "SLO-Alarmierung", "alertes sur les SLO",
                     "alertas de SLO"),
    "chaos drills": ("game days for outages", "Ausfallübungen", "exercices de panne",
                     "simulacros de caída"),
    "hourly pipeline": ("refresh the warehouse every hour", "stündliche Datenstrecke",
                        "chaîne de données horaire", "canalización cada hora"),
    "schema contracts": ("agreed table formats", "Schema-Verträge", "contrats de schéma",
                         "contratos de esquema"),
    "late-data backfill": ("fill in records that arrive late", "Nachladen verspäteter Daten",
                           "rattrapage des données tardives", "relleno de datos tardíos"),
    "freshness dashboard": ("how old is the data board", "Aktualitäts-Dashboard",
                            "tableau de fraîcheur", "panel de frescura"),
    "dbt test coverage": ("more tests on transformations", "Testabdeckung der Modelle",
                          "couverture de tests dbt", "cobertura de pruebas"),
}
_OPENERS = ("", "Let's ", "Q4: ", "Proposal — ", "Idea: ", "[draft] ")


def paraphrase_text(rng: random.Random, thing: str) -> tuple[str, str]:
    """A title and a description for `thing` in words the generator never used."""
    options = PARAPHRASES[thing]
    title = _OPENERS[rng.randrange(len(_OPENERS))] + options[rng.randrange(len(options))]
    other = options[rng.randrange(len(options))]
    return title, f"Why: {other}."


def _thing_of(title: str) -> str | None:
    for thing in PARAPHRASES:
        if title.endswith(" " + thing):
            return thing
    return None


def paraphrased(epics: int, seed: int, *, story: bool = False) -> dict[str, Any]:
    """`generate(epics, seed, story=story)` with every themed epic's title and description
    reworded."""
    scenario = generate(epics, seed, story=story)
    rng = random.Random(seed * 7919 + 1)
    for issue in scenario["jira"]["issues"]:
        fields = issue["fields"]
        thing = _thing_of(fields["summary"])
        if thing:
            fields["summary"], text = paraphrase_text(rng, thing)
            fields["description"] = {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": text}]}]}
    for repo in scenario["github"]["repos"].values():
        for issue in repo["issues"]:
            thing = _thing_of(issue["title"])
            if thing:
                issue["title"], issue["body"] = paraphrase_text(rng, thing)
    return scenario


assert set(PARAPHRASES) == {t for _, _, _, things in THEMES.values() for t in things}
assert not set(PARAPHRASES) & set(UNTRACEABLE[1])
