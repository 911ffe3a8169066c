"""Every table of shuangsui, imported in one place so migrations and tests see the whole schema."""

from exchange.models import (  # noqa: F401
    AssistanceCase,
    EquivocationProof,
    ExchangeCheckpoint,
    ExchangeCosignature,
    ExchangeEntry,
    ExchangeHead,
    ExchangeNonce,
    PartnerConflict,
    PartnerEntry,
    PartnerState,
    SeenCheckpoint,
)
from findings.models import (  # noqa: F401
    CoordinatorToken,
    Evidence,
    Finding,
    FindingSignoff,
    FindingVersion,
    PublishedResult,
)
from joint.models import JointRound, JointStatement  # noqa: F401
from leads.models import Lead  # noqa: F401
from notifications.generations import LinkGeneration  # noqa: F401
from notifications.models import Notification  # noqa: F401
from registry.models import (  # noqa: F401
    Certificate,
    CheckItem,
    Conflict,
    Enterprise,
    Inspector,
    RegistryChange,
)
from risk.models import (  # noqa: F401
    RiskClassification,
    RiskComplaint,
    RiskOverride,
    RiskRun,
)
from rounds.models import (  # noqa: F401
    Assignment,
    AuditEvent,
    DueChange,
    PlanVersion,
    Round,
    RoundArtifact,
    Selection,
    TeamChange,
)
