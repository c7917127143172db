"""What every loader returns, and the deployment context loaders bind."""

from __future__ import annotations

from dataclasses import dataclass, field

from kmsguard.findings import Diagnostic, InputError, Suppression
from kmsguard.model import Inventory, OrgContext

# A construct kmsguard does not analyse (CloudFormation Fn::ForEach, a remote Terraform module...):
# reported, so that "no findings" never silently means "not looked at".
RULE_NOT_ANALYSED = "KMS105"


@dataclass(frozen=True)
class LoadContext:
    """Deployment context the user knows (``--account``, ``--region``...). Unset values stay
    symbolic (``Unknown("AWS::AccountId")``) so that "this account" is still told apart from
    "some other account"."""

    account: str | None = None
    region: str | None = None
    partition: str = "aws"
    org_id: str | None = None
    trusted_accounts: tuple[str, ...] = ()

    def org(self) -> OrgContext:
        return OrgContext(
            account=self.account,
            region=self.region,
            partition=self.partition,
            org_id=self.org_id,
            trusted_accounts=self.trusted_accounts,
        )


@dataclass
class LoadResult:
    """What loading one input (a file, or a Terraform module directory) produced."""

    inventory: Inventory = field(default_factory=Inventory)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    # path -> the file's text, so reports can print the source line of a finding.
    sources: dict[str, str] = field(default_factory=dict)

    def extend(self, other: LoadResult) -> None:
        self.inventory = Inventory.merge([self.inventory, other.inventory])
        self.diagnostics.extend(other.diagnostics)
        self.errors.extend(other.errors)
        self.suppressions.extend(other.suppressions)
        self.sources.update(other.sources)


def deployment_org(cli: LoadContext, loaded: OrgContext) -> OrgContext:
    """The context the rules see: what the command line set, else what the inputs said (a
    snapshot knows its accounts and organisation)."""
    return OrgContext(
        account=cli.account or loaded.account,
        region=cli.region or loaded.region,
        partition=cli.partition if cli.partition != "aws" else loaded.partition,
        org_id=cli.org_id or loaded.org_id,
        trusted_accounts=cli.trusted_accounts or loaded.trusted_accounts,
    )
