from __future__ import annotations

from typing import Any, ClassVar

from django.db import models


class CarriesProvince(models.Model):
    """A record that carries its province code, copied from the place it hangs on.

    Every hot table carries it so that no hot query crosses provinces and a
    nation-scale deployment can shard by it (DESIGN §9).
    """

    province_code = models.CharField(max_length=4, db_index=True, editable=False)
    province_source: ClassVar[str]

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.province_code = getattr(self, self.province_source).province_code
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and self.province_source in update_fields:
            kwargs["update_fields"] = {*update_fields, "province_code"}
        super().save(*args, **kwargs)
