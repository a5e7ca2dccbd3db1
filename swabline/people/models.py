from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope
from swabline.people.codes import format_person_code, new_person_code, new_qr_token
from swabline.people.enums import DataRequestKind, DataRequestStatus, DeclarationSource, Sex


def new_public_id() -> str:
    """An opaque 128-bit token, URL-safe: the person's identifier outside the server."""
    return secrets.token_urlsafe(16)


def new_household_key() -> str:
    return "h-" + secrets.token_urlsafe(12)


class Person(CarriesProvince):
    """Someone who may be sampled. Names are stored NFC; `name_folded` is the
    diacritic-free search key kept beside it.

    `identity_key` is the duplicate rule made unique in the database: folded name,
    birth date (or year) and phone; without a phone, the ward and household stand
    in for it. A merged-away record keeps its data but drops its keys.
    """

    province_source = "ward"

    # CarriesProvince's field without db_index: on PostgreSQL that adds a "_like"
    # twin no query uses (nothing matches a province code with LIKE); the plain
    # index is declared in Meta instead.
    province_code = models.CharField(max_length=4, editable=False)
    public_id = models.CharField(max_length=32, default=new_public_id, editable=False)
    qr_token = models.CharField(max_length=26, default=new_qr_token, editable=False)
    code = models.CharField(_("code"), max_length=8, default=new_person_code, editable=False)
    full_name = models.CharField(_("full name"), max_length=150)
    # On PostgreSQL the column is collated "C" (migration 0006): byte order, as on
    # SQLite, so that a btree serves both `startswith` (LIKE 'x%') and ORDER BY. A
    # later AlterField of this column must keep COLLATE "C".
    name_folded = models.CharField(max_length=150, editable=False)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("year of birth"))
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    # Optional; where result notifications are e-mailed. A database default too, so
    # the bulk paths that COPY or INSERT…SELECT people need not name the column.
    email = models.EmailField(_("email"), max_length=254, blank=True, default="", db_default="")
    national_id = models.CharField(_("CCCD"), max_length=12, null=True, blank=True)  # noqa: DJ001 -- NULL: unique among those who have one
    # A CCCD someone typed that belongs to a record with another name or birth year:
    # kept for staff to review, never used to match (so typing a stranger's CCCD
    # reveals nothing about them).
    claimed_national_id = models.CharField(max_length=12, blank=True, editable=False)
    ward = models.ForeignKey(
        "places.Place",
        on_delete=models.PROTECT,
        related_name="people",
        verbose_name=_("ward"),
        db_index=False,  # person_ward_name leads with ward
    )
    address = models.CharField(_("address"), max_length=300, blank=True)
    household_key = models.CharField(_("household"), max_length=40, blank=True)
    is_household_head = models.BooleanField(_("head of household"), default=False)
    identity_key = models.CharField(max_length=220, null=True, blank=True, editable=False)  # noqa: DJ001
    source = models.CharField(
        _("registered through"),
        max_length=10,
        choices=DeclarationSource.choices,
        default=DeclarationSource.SELF,
    )
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_people",
        editable=False,
        db_index=False,  # see person_merged_into: only the few merged rows are indexed
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when retention or an erasure request stripped the personal data (retention.py).
    pseudonymised_at = models.DateTimeField(_("pseudonymised at"), null=True, blank=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["name_folded", "id"]
        # Declared here rather than with unique=/db_index= on the fields: on
        # PostgreSQL those add a second "_like" index per text column, which doubled
        # the cost of bulk imports (see docs/performance.md). The folded name also
        # has a trigram index on PostgreSQL (migration 0004).
        indexes = [
            models.Index(fields=["province_code"], name="person_province"),
            models.Index(fields=["ward", "name_folded"], name="person_ward_name"),
            # Name search: a prefix range read in name order, the scope checked on
            # the index entries themselves (see queries.find_people).
            models.Index(fields=["name_folded", "ward"], name="person_name_ward"),
            # Name search with a year of birth: the names that *contain* the text are
            # tested on these entries alone (an index-only scan of that year's people
            # in the scope), never on the table's rows (see queries.find_people).
            models.Index(
                fields=["birth_year", "ward", "name_folded", "id"],
                name="person_year_ward_name",
                condition=models.Q(merged_into__isnull=True),
            ),
            models.Index(fields=["phone"], name="person_phone"),
            models.Index(fields=["household_key"], name="person_household"),
            models.Index(
                fields=["claimed_national_id"],
                name="person_claimed_cccd",
                condition=~models.Q(claimed_national_id=""),
            ),
            models.Index(
                fields=["merged_into"],
                name="person_merged_into",
                condition=models.Q(merged_into__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="person_public_id_unique"),
            models.UniqueConstraint(fields=["qr_token"], name="person_qr_token_unique"),
            models.UniqueConstraint(fields=["code"], name="person_code_unique"),
            models.UniqueConstraint(fields=["national_id"], name="person_national_id_unique"),
            models.UniqueConstraint(fields=["identity_key"], name="person_identity_key_unique"),
            models.CheckConstraint(
                condition=models.Q(birth_year__gte=1890, birth_year__lte=2100),
                name="person_birth_year_plausible",
            ),
            models.CheckConstraint(
                condition=models.Q(merged_into__isnull=True)
                | models.Q(identity_key__isnull=True, national_id__isnull=True),
                name="person_merged_has_no_keys",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def display_code(self) -> str:
        return format_person_code(self.code)

    def scope(self) -> Scope:
        return Scope(place_path=self.ward.path)


class Declaration(CarriesProvince):
    """A health declaration made by or for a person at a point in time."""

    province_source = "person"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="declarations")
    declared_at = models.DateTimeField(_("declared at"), auto_now_add=True, db_index=True)
    source = models.CharField(_("source"), max_length=10, choices=DeclarationSource.choices)
    symptoms = models.JSONField(_("symptoms"), default=list, blank=True)
    contact_with_case = models.BooleanField(_("contact with a case"), default=False)
    recent_travel = models.BooleanField(_("recent travel"), default=False)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("declaration")
        verbose_name_plural = _("declarations")
        ordering = ["-declared_at"]

    def __str__(self) -> str:
        return f"{self.person} @ {self.declared_at:%Y-%m-%d %H:%M}"


class PersonMerge(models.Model):
    """A duplicate folded into the record that survives, with what it held then."""

    survivor = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="merges_in")
    merged = models.OneToOneField(Person, on_delete=models.PROTECT, related_name="merge_out")
    merged_at = models.DateTimeField(auto_now_add=True)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    snapshot = models.JSONField(default=dict)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"


class Consent(models.Model):
    """A person's consent that a partner app receives their results.

    Granted through the partner (who proves the person's identity with the code and
    date of birth, `swabline.interop`); revoked by the partner or by staff. Only
    the current (not revoked) consent counts: at most one per person and partner.
    """

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="consents")
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consents"
    )
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(
                fields=["person", "partner"],
                condition=models.Q(revoked_at__isnull=True),
                name="consent_one_active_per_partner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} → {self.partner_id}"


class DataRequest(CarriesProvince):
    """A person's request to see (access) or erase their data, recorded by staff.

    open → done. Access is done when its JSON export is first downloaded; erasure when
    staff confirm it (`people.data_requests`). The row outlives the erasure: it is the
    record that the request was met (reason, who, when), pointing at the pseudonym.
    """

    province_source = "person"

    public_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    # The form's idempotency key: submitting the same form twice records one request.
    client_id = models.UUIDField(unique=True, editable=False)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="data_requests")
    kind = models.CharField(_("request"), max_length=10, choices=DataRequestKind.choices)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DataRequestStatus.choices,
        default=DataRequestStatus.OPEN,
    )
    reason = models.TextField(_("reason"), max_length=500)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True, db_index=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("data request")
        verbose_name_plural = _("data requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=DataRequestKind.values)
                & models.Q(status__in=DataRequestStatus.values),
                name="datarequest_kind_and_status_known",
            ),
            models.CheckConstraint(
                condition=models.Q(status=DataRequestStatus.OPEN, done_at__isnull=True)
                | models.Q(status=DataRequestStatus.DONE, done_at__isnull=False),
                name="datarequest_done_has_a_time",
            ),
            models.CheckConstraint(
                condition=~models.Q(reason=""), name="datarequest_reason_required"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id}"

    def scope(self) -> Scope:
        return Scope(place_path=self.person.ward.path)


# --- Bulk import of people (swabline.people.importing) ------------------------------


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    VALIDATED = "validated", _("Checked")
    QUEUED = "queued", _("Waiting to import")
    IMPORTING = "importing", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")


class ImportMode(models.TextChoices):
    VALID_ROWS = "valid_rows", _("Import the valid rows")
    ALL_OR_NOTHING = "all_or_nothing", _("Import only if every row is valid")


class ImportPhase(models.TextChoices):
    IDLE = "", _("Idle")
    READING = "reading", _("Checking rows")
    STAGING = "staging", _("Preparing rows")
    WRITING = "writing", _("Saving people")


def new_import_id() -> str:
    """A random UUID, as text (the field stores it as a UUID)."""
    import uuid

    return str(uuid.uuid4())


class PeopleImport(CarriesProvince):
    """One uploaded list of people (XLSX or CSV) and what became of it.

    uploaded → validated (a dry run: counts and per-row errors) → queued → importing →
    done | failed. The file lives on disk under `PEOPLE_IMPORT_DIR` (`file_path` is
    relative to it). Every row must fall in `place` (a ward, or a place above wards).
    Counts describe the last validation; `people_created` and `people_matched` the
    commit, which is one transaction: all the import's people or none.
    """

    province_source = "place"

    public_id = models.UUIDField(unique=True, default=new_import_id, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    place = models.ForeignKey(
        "places.Place", on_delete=models.PROTECT, related_name="+", verbose_name=_("place")
    )
    original_name = models.CharField(_("file name"), max_length=255)
    file_path = models.CharField(max_length=300, editable=False)
    file_format = models.CharField(max_length=4, editable=False)
    size_bytes = models.PositiveBigIntegerField(_("size"), default=0)
    sha256 = models.CharField(max_length=64, db_index=True, editable=False)
    language = models.CharField(max_length=10, default="vi", editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    mode = models.CharField(
        _("mode"), max_length=16, choices=ImportMode.choices, default=ImportMode.VALID_ROWS
    )
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_valid = models.PositiveIntegerField(_("valid rows"), default=0)
    rows_invalid = models.PositiveIntegerField(_("rows with errors"), default=0)
    rows_duplicate_in_file = models.PositiveIntegerField(_("repeated rows"), default=0)
    people_created = models.PositiveIntegerField(_("new people"), default=0)
    people_matched = models.PositiveIntegerField(_("people already registered"), default=0)
    phase = models.CharField(max_length=10, choices=ImportPhase.choices, default="", blank=True)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # File details found while reading (sheet, header row, encoding, delimiter, columns).
    file_info = models.JSONField(default=dict, blank=True)
    # Counts of errors per column and code, notes, and the reason of a failure.
    error_summary = models.JSONField(default=dict, blank=True)
    # The first errors: [{"row", "column", "field", "code", "message"}], capped.
    errors = models.JSONField(default=list, blank=True)
    failure = models.TextField(_("reason of the failure"), blank=True)
    # Changes on each validation; names the cleaned-rows file the commit reads.
    validation_token = models.CharField(max_length=32, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True, db_index=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Set when the retention command deleted the upload and its side files
    # (`IMPORT_UPLOAD_KEEP_HOURS` after the last activity): only counts remain.
    files_deleted_at = models.DateTimeField(_("files deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("people import")
        verbose_name_plural = _("people imports")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["uploaded_by", "-created_at"], name="people_import_by_user"),
            models.Index(fields=["status", "heartbeat_at"], name="people_import_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    rows_total__gte=0,
                    rows_valid__gte=0,
                    rows_invalid__gte=0,
                    rows_duplicate_in_file__gte=0,
                    people_created__gte=0,
                    people_matched__gte=0,
                    progress_done__gte=0,
                    progress_total__gte=0,
                ),
                name="people_import_counts_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    rows_total__gte=models.F("rows_valid")
                    + models.F("rows_invalid")
                    + models.F("rows_duplicate_in_file"),
                    rows_valid__gte=models.F("people_created") + models.F("people_matched"),
                ),
                name="people_import_counts_add_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_status_display()})"

    @property
    def progress_fraction(self) -> float:
        """0.0–1.0 for a progress bar (1.0 once done)."""
        if self.status == ImportStatus.DONE:
            return 1.0
        if not self.progress_total:
            return 0.0
        return min(1.0, self.progress_done / self.progress_total)

    def scope(self) -> Scope:
        return Scope(place_path=self.place.path)
