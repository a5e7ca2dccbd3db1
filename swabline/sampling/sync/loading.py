"""Loading a run: lock the batch's tubes, then read what the events need."""

from __future__ import annotations

import uuid

from swabline.sampling import bulk, scans
from swabline.sampling.enums import EventType, SampleKind
from swabline.sampling.messages import Reason
from swabline.sampling.models import SamplingSettings
from swabline.sampling.sync.state import Member, State, TubeState, Where


class Loading(State):
    def load(self) -> None:
        codes = {e.tube for e in self.events if e.tube}
        where, params = bulk.any_of("t.code", codes, "text")
        rows = bulk.select(
            "SELECT t.id, t.code, t.site_id, t.campaign_id, t.kind, t.status, t.pool_limit,"  # noqa: S608 (values are parameters)
            f" t.is_recall, t.member_count FROM sampling_tube t WHERE {where}"
            f" ORDER BY t.code{bulk.for_update('t')}",
            params,
        )
        for tid, code, site_id, campaign_id, kind, status, limit, recall, count in rows:
            self.tubes[code] = TubeState(
                code, site_id, campaign_id, kind, status, limit, bool(recall), [], id=tid,
                count=count,
            )  # fmt: skip
        if not self.lean:
            self._load_seen()
        self._load_people()
        others = {} if self.lean else self._load_samples()
        if any(e.type == EventType.OPEN_TUBE for e in self.events):
            self._load_labels(codes)
        self._load_names(others)

    def _load_names(self, elsewhere: dict[int, list[int]]) -> None:
        """Codes and site names for messages about other sites' tubes: needed for
        conflicts only, so the usual batch makes neither query."""
        if elsewhere:
            where, params = bulk.any_of("t.id", elsewhere, "bigint")
            rows = bulk.select(
                "SELECT t.id, t.code, s.id, s.name FROM sampling_tube t"  # noqa: S608 (values are parameters)
                f" JOIN campaigns_site s ON s.id = t.site_id WHERE {where}",
                params,
            )
            for tube_id, code, site_id, name in rows:
                self.site_names[site_id] = name
                for person_id in elsewhere[tube_id]:
                    self.active[person_id] = Where(code, site_id, None)
        sites = {t.site_id for t in self.tubes.values()} - set(self.site_names)
        if sites:
            where, params = bulk.any_of("id", sites, "bigint")
            names = bulk.select(f"SELECT id, name FROM campaigns_site WHERE {where}", params)  # noqa: S608 (values are parameters)
            self.site_names.update((site_id, name) for site_id, name in names)

    def _load_seen(self) -> None:
        ids = bulk.uuid_params(e.id for e in self.events)
        where, params = bulk.any_of("client_event_id", ids, "uuid")
        rows = bulk.select(
            "SELECT client_event_id, fate, reason, payload, person_id"  # noqa: S608 (values are parameters)
            f" FROM sampling_stationevent WHERE {where}",
            params,
        )
        self.seen = {
            bulk.uuid_value(event_id): {
                "fate": fate, "reason": reason, "payload": bulk.json_value(payload),
                "person_id": person_id,
            }
            for event_id, fate, reason, payload, person_id in rows
        }  # fmt: skip
        wanted = {row["person_id"] for row in self.seen.values() if row["person_id"]}
        self._add_person_info(wanted)

    def _load_people(self) -> None:
        keys: dict[uuid.UUID, scans.ScanKey] = {}
        seen, wanted = self.seen, (EventType.ADD_PERSON, EventType.REMOVE_LAST)
        for event in self.events:
            # Each look-up by event id hashes a UUID in Python: once per step here.
            event_id = event.id
            if event.type not in wanted or event_id in seen:
                continue
            try:
                if event.person:
                    keys[event_id] = scans.ScanKey("public_id", event.person)
                elif event.scan:
                    key = keys[event_id] = scans.classify(event.scan)
                    self.scan_kinds[event_id] = key.field
            except scans.ScanError as exc:
                self.people[event_id] = exc
                self.scan_kinds[event_id] = exc.reason
        found = scans.lookup(keys.values())
        for event_id, key in keys.items():
            row = found.get(key)
            if row is None and key.card is not None:
                try:
                    row = scans.resolve(key, by=self.by, site=self.site)
                except scans.ScanError as exc:
                    self.people[event_id] = exc
                    continue
                found[key] = row
            self.people[event_id] = row or scans.ScanError(Reason.PERSON_UNKNOWN)
            if row is not None:
                self.person_info[row.id] = row

    def _load_samples(self) -> dict[int, list[int]]:
        """Active samples of the run's tubes, and of its people in this campaign.
        Returns the people sampled in other tubes, by tube id."""
        tube_ids = {t.id: t for t in self.tubes.values() if t.id is not None}
        person_ids = {r.id for r in self.people.values() if isinstance(r, scans.PersonRow)}
        if not tube_ids and not person_ids:
            return {}
        # Each branch only when it has values: an always-false branch of an OR can
        # steer PostgreSQL off the partial indexes.
        branches, params = [], []
        if tube_ids:
            in_tubes, tube_params = bulk.any_of("tube_id", tube_ids, "bigint")
            branches.append(in_tubes)
            params += tube_params
        if person_ids:
            of_people, people_params = bulk.any_of("person_id", person_ids, "bigint")
            branches.append(f"({of_people} AND campaign_id = %s AND kind = %s)")
            params += [*people_params, self.campaign.pk, SampleKind.NORMAL.value]
        rows = bulk.select(
            "SELECT id, tube_id, person_id, position, kind, campaign_id FROM sampling_sample"  # noqa: S608 (values are parameters)
            f" WHERE active AND ({' OR '.join(branches)}) ORDER BY tube_id, position",
            params,
        )
        for loaded in tube_ids.values():
            loaded.count = 0  # counted again from the rows below (heals a drifted counter)
        elsewhere: dict[int, list[int]] = {}
        for sid, tube_id, person_id, position, kind, campaign_id in rows:
            member = Member(person_id, position, kind, sample_id=sid)
            tube = tube_ids.get(tube_id)
            if tube is not None:
                tube.members.append(member)
                tube.count += 1
            if kind != SampleKind.NORMAL or campaign_id != self.campaign.pk:
                continue
            if tube is not None:
                self.active[person_id] = Where(tube.code, tube.site_id, member)
            else:
                elsewhere.setdefault(tube_id, []).append(person_id)
        return elsewhere

    def _load_labels(self, codes: set[str]) -> None:
        where, params = bulk.any_of("code", codes, "text")
        rows = bulk.select(
            f"SELECT code, campaign_id, site_id, used_at FROM sampling_tubelabel WHERE {where}",  # noqa: S608 (values are parameters)
            params,
        )
        self.labels = {
            code: {"code": code, "campaign_id": campaign, "site_id": site, "used_at": used}
            for code, campaign, site, used in rows
        }
        self.settings = SamplingSettings.objects.filter(campaign=self.campaign).first()
