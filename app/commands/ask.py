"""`longhaul ask`: answer a question over a tenant's history, with citations and per-stage timings."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from app.commands.options import MODE_DEFAULT, RERANK_DEFAULT, Mode, RerankOption, TenantOption, tenant_or_default
from app.services.answers.options import AskOptions

_FIELD = AskOptions.model_fields  # the options' defaults and help: defined once, in AskOptions


def print_report(answer: dict[str, Any], question: str) -> None:
    """A readable report of one answer: the answer, what it cites, the packed context and the timings."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    console = Console()
    console.print(Panel(question, title="question", border_style="cyan"))
    status = "[green]verified[/]" if answer["verified"] else "[yellow]not verified[/]"
    if answer.get("plan"):
        console.print(Panel("\n".join(f"{i}. {line}" for i, line in enumerate(answer["plan"], 1)),
                            title="plan: each part answered on its own pass", border_style="blue"))
    console.print(Panel(answer["answer"], title=f"answer ({status}, mode {answer['mode']})", border_style="green"))
    if answer.get("fallback") and answer.get("attempts"):
        last = answer["attempts"][-1]
        console.print(Panel(last["answer"], title=f"the model's draft, withheld (unsupported: "
                                                    f"{', '.join(last['unsupported']) or 'no citation'})",
                            border_style="yellow"))
    if answer["citations"]:
        cites = Table(title="citations", show_lines=False)
        cites.add_column("source", overflow="fold", max_width=40)
        cites.add_column("text", overflow="fold")
        for c in answer["citations"]:
            cites.add_row(c["source"], c["text"][:300])
        console.print(cites)
    ctx = answer["context"]
    console.print(f"packed context: {ctx['tokens']:,} tokens, {len(ctx['evidence'])} evidence records "
                  f"({', '.join(e.get('label', '') + '=' + e['source'] for e in ctx['evidence'][:6])}"
                  f"{', ...' if len(ctx['evidence']) > 6 else ''})")
    console.print("timings: " + ", ".join(f"{k} {v:,.0f} ms" for k, v in answer["timings_ms"].items()))


def print_verdict(answer: dict[str, Any]) -> None:
    """One line: verified or not, and the drafts' claims that verification left out."""
    from rich.console import Console

    from app.services.answers.events import verdict_of

    verdict = verdict_of(answer)
    status = "[green]verified[/]" if verdict["verified"] else "[yellow]not verified[/]"
    left_out = f"; left out (unsupported by the records): {', '.join(verdict['withdrawn'])}" if verdict[
        "withdrawn"] else ""
    Console().print(f"verdict: {status}{' (partial)' if verdict['partial'] else ''}{left_out}", highlight=False)


class TerminalStream:
    """A pipeline listener for the terminal: a spinner naming the stage while nothing else shows (retrieval,
    packing, verification), and the draft's tokens printed as the engine generates them."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console()
        self.status = self.console.status("retrieving the evidence ...", spinner="dots")
        self.spinning = False

    def spin(self, text: str) -> None:
        self.status.update(text)
        if not self.spinning:
            self.status.start()
            self.spinning = True

    def stop(self) -> None:
        if self.spinning:
            self.status.stop()
            self.spinning = False

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "token":
            self.console.file.write(data["text"])
            self.console.file.flush()
        elif data.get("status") == "start" and data["stage"] == "generate":
            self.stop()
            again = " (again, on a narrower context)" if data["attempt"] > 1 else ""
            self.console.print(f"[dim]draft{again}:[/] ", end="")
        elif data.get("status") == "start":
            self.spin({"retrieve": "retrieving the evidence ...", "pack": "packing the context ...",
                       "verify": "verifying the draft against the records ..."}.get(data["stage"], data["stage"]))
        elif data.get("status") == "done" and data["stage"] == "generate":
            self.console.print()
            self.spin("verifying the draft against the records ...")


def register(cli: typer.Typer) -> None:
    @cli.command()
    def ask(
        question: Annotated[str, typer.Argument(help="The question, in plain words.")],
        tenant: TenantOption = None,
        mode: Annotated[Mode, typer.Option(help="How to answer.")] = MODE_DEFAULT,
        budget: Annotated[int, typer.Option(help=_FIELD["budget"].description)] = _FIELD["budget"].default,
        k: Annotated[int, typer.Option(help=_FIELD["k"].description)] = _FIELD["k"].default,
        max_new_tokens: Annotated[int, typer.Option(help=_FIELD["max_new_tokens"].description)] = _FIELD[
            "max_new_tokens"].default,
        rerank: RerankOption = RERANK_DEFAULT,
        order: Annotated[str, typer.Option(help=_FIELD["order"].description)] = _FIELD["order"].default,
        kv: Annotated[str, typer.Option(help=_FIELD["kv"].description)] = _FIELD["kv"].default,
        json_out: Annotated[bool, typer.Option("--json", help="The answer as JSON, last line.")] = False,
    ) -> None:
        """Answer QUESTION from the tenant's history, citing the evidence; unverifiable answers say so. The draft
        streams to the terminal as it is generated (a spinner while retrieving), then the verdict and the report."""
        from app.core.settings import get_settings
        from app.services.answers import pipeline_for

        tenant = tenant_or_default(tenant)
        opts = AskOptions.of(mode=mode.value, budget=budget, k=k, max_new_tokens=max_new_tokens, rerank=rerank,
                             order=order, kv=kv)
        pipeline = pipeline_for(get_settings())
        if json_out:
            typer.echo(json.dumps(pipeline.ask(question, tenant, opts).to_json()))
            return
        terminal = TerminalStream()
        try:
            result = pipeline.ask(question, tenant, opts, listener=terminal).to_json()
        finally:
            terminal.stop()
        print_verdict(result)
        print_report(result, question)
