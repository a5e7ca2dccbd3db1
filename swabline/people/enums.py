from django.db import models
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    OTHER = "O", _("Other")


class DeclarationSource(models.TextChoices):
    SELF = "self", _("Self-declared")
    STAFF = "staff", _("Registered by staff")
    IMPORT = "import", _("Imported from a list")
    PARTNER = "partner", _("Partner app")
    CCCD = "cccd", _("CCCD chip-card scan")


class Symptom(models.TextChoices):
    FEVER = "fever", _("Fever")
    COUGH = "cough", _("Cough")
    SORE_THROAT = "sore_throat", _("Sore throat")
    BREATHING = "breathing", _("Difficulty breathing")
    TASTE_SMELL = "taste_smell", _("Loss of taste or smell")
    FATIGUE = "fatigue", _("Tiredness")


class DataRequestKind(models.TextChoices):
    ACCESS = "access", _("Access: a copy of everything held")
    ERASURE = "erasure", _("Erasure of personal data")


class DataRequestStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
