"""The BMC stand-in: sushy-emulator with its fake driver on 127.0.0.1, one Redfish system per BMC:
every booted node's and every NVLink switch tray's (NVL72 racks), all powered off at first.

Each BMC has an endpoint of its own, as on real hardware: a port on 127.0.0.1 whose Redfish service
lists that BMC's system only (`state.endpoints["bmc_systems"]`, by node or switch-tray name). The
emulator's own port lists every system (`state.endpoints["bmc"]`, for the lab's own reads). With one
shared endpoint, every BMC host's inventory read would fetch every system: N reads of N systems.

sushy-tools advertises `/redfish/v1/UpdateService/FirmwareInventory` but serves no route for it, so
this launcher adds one to sushy's own Flask app before starting it: the collection and its members
come from a firmware inventory shipped with the package (aifactory/lab/firmware/). sushy's systems carry no
SerialNumber, which a real BMC reports (and `aifactory replace` records): the launcher adds a stable
one to each system it serves. Everything else is sushy's code.

Run as `python -m aifactory.lab.redfish --firmware FIXTURE.json <sushy-emulator arguments>`.
"""

from __future__ import annotations

import datetime
import json
import ipaddress
import shutil
import sys
import threading
import uuid
from importlib.resources import files
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aifactory.lab import procs
from aifactory.lab.state import LabState

FIRMWARE = Path(str(files("aifactory.lab") / "firmware"))  # the stand-in firmware inventories, per platform
INVENTORY_PATH = "/redfish/v1/UpdateService/FirmwareInventory"


def system_uuid(site: str, node: str) -> str:
    """A stable Redfish system id for a node (the fake driver lists systems by uuid)."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node}.{site}.aifactory-lab"))


def serial_number(system_id: str) -> str:
    """The stand-in serial number of a system, from its Redfish UUID."""
    return "LAB" + uuid.UUID(system_id).hex[:12].upper()


def firmware_fixture(platform: str) -> Path:
    """The firmware inventory served for `platform`, or the generic one when it has none."""
    own = FIRMWARE / f"firmware-{platform}.json"
    return own if own.exists() else FIRMWARE / "firmware-generic.json"


def write_tls(d: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: Redfish is HTTPS (community.general speaks nothing else)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aifactory lab BMC stand-in")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    crt, pem = d / "tls.crt", d / "tls.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    pem.chmod(0o600)
    return crt, pem


def fake_systems(site: str, systems: list[tuple[str, str]]) -> list[dict]:
    """sushy's fake-driver systems for (name, address) pairs, powered off as a rack fresh from its
    installer: the racks stage must power them on (switch trays first)."""
    return [{"uuid": system_uuid(site, name), "name": name, "power_state": "Off", "external_notifier": False,
             "nics": [{"mac": f"02:af:00:00:{i // 256:02x}:{i % 256:02x}", "ip": address}]}
            for i, (name, address) in enumerate(systems, start=1)]


def write_config(state: LabState, systems: list[tuple[str, str]], port: int, ports: dict[str, int]) -> Path:
    """The emulator's config: fake driver, its own state dir, one system per (name, address), and the
    port of each system's own endpoint ({system id: port}, read by this launcher). The fake driver's state an
    earlier lab of this site left (its systems powered on) is removed: every lab up starts with racks off."""
    systems = fake_systems(state.site, systems)
    d = state.dir / "bmc"
    shutil.rmtree(d / "state", ignore_errors=True)
    d.mkdir(parents=True, exist_ok=True)
    crt, key = write_tls(d)
    conf = d / "emulator.conf"
    conf.write_text("\n".join([
        f"SUSHY_EMULATOR_SSL_CERT = {str(crt)!r}",
        f"SUSHY_EMULATOR_SSL_KEY = {str(key)!r}",
        "SUSHY_EMULATOR_FAKE_DRIVER = True",
        f"SUSHY_EMULATOR_STATE_DIR = {str(d / 'state')!r}",
        "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'",
        f"SUSHY_EMULATOR_LISTEN_PORT = {port}",
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}",
        f"AIFACTORY_BMC_PORTS = {ports!r}",
        "",
    ]))
    return conf


def start(state: LabState, systems: list[tuple[str, str]], platform: str) -> str:
    """Start the emulator with a system per (name, address); return its base URL once
    `/redfish/v1/Systems` answers. Each system's own endpoint goes to `state.endpoints["bmc_systems"]`."""
    names = [name for name, _ in systems]

    def launch(ports: list[int]) -> tuple[list[str], str]:
        port, own = ports[0], dict(zip(names, ports[1:]))
        conf = write_config(state, systems, port, {system_uuid(state.site, name): p for name, p in own.items()})
        argv = [sys.executable, "-m", "aifactory.lab.redfish", "--firmware", str(firmware_fixture(platform)),
                "--config", str(conf), "--fake", "-i", "127.0.0.1", "-p", str(port)]
        return argv, f"https://127.0.0.1:{port}/redfish/v1/Systems"

    port, *own_ports = procs.start_on_free_ports(state, "BMCs (sushy-emulator)", 1 + len(names), launch,
                                                 state.dir / "bmc" / "emulator.log")
    own = dict(zip(names, own_ports))
    url = f"https://127.0.0.1:{port}"
    state.endpoints["bmc_systems"] = {name: f"https://127.0.0.1:{p}" for name, p in own.items()}
    state.save()
    return url


def add_firmware_inventory(app, fixture: Path) -> None:
    """Serve the fixture's firmware components under UpdateService/FirmwareInventory on `app`."""
    import flask

    members = json.loads(fixture.read_text())["Members"]
    by_id = {m["Id"]: {"@odata.id": f"{INVENTORY_PATH}/{m['Id']}",
                       "@odata.type": "#SoftwareInventory.v1_4_0.SoftwareInventory", **m} for m in members}

    def collection():
        return flask.jsonify({"@odata.id": INVENTORY_PATH,
                              "@odata.type": "#SoftwareInventoryCollection.SoftwareInventoryCollection",
                              "Name": "Firmware Inventory (aifactory lab fixture)",
                              "Members@odata.count": len(by_id),
                              "Members": [{"@odata.id": m["@odata.id"]} for m in by_id.values()]})

    def member(item_id):
        if item_id not in by_id:
            return flask.jsonify({"error": {"message": f"no firmware component {item_id}"}}), 404
        return flask.jsonify(by_id[item_id])

    app.add_url_rule(INVENTORY_PATH, "aifactory_firmware_inventory", collection)
    app.add_url_rule(f"{INVENTORY_PATH}/<item_id>", "aifactory_firmware_component", member)


def add_serial_numbers(app) -> None:
    """Answer every system read (GET /redfish/v1/Systems/ID) with its SerialNumber (serial_number)."""
    import flask

    def with_serial(response):
        parts = flask.request.path.rstrip("/").split("/")
        if (flask.request.method == "GET" and parts[:4] == ["", "redfish", "v1", "Systems"] and len(parts) == 5
                and response.status_code == 200 and response.is_json):
            system = response.get_json()
            if system.get("UUID"):
                system.setdefault("SerialNumber", serial_number(system["UUID"]))
                response.set_data(json.dumps(system))
        return response

    app.after_request(with_serial)


def serve_one_system_per_port(app) -> None:
    """Listen on each system's own port too (config `AIFACTORY_BMC_PORTS`, {system id: port}): there, the
    Systems collection lists that system only and any other system is not found, as on a BMC of one
    system. Every listener serves this one app (one fake driver state), started beside sushy's own."""
    import flask
    from werkzeug.serving import make_server

    def own_system() -> str | None:
        return by_port.get(flask.request.environ.get("SERVER_PORT", ""))

    def systems_path() -> list[str] | None:
        parts = flask.request.path.rstrip("/").split("/")
        return parts[4:] if parts[:4] == ["", "redfish", "v1", "Systems"] else None

    def other_system():
        rest, system = systems_path(), own_system()
        if system and rest and rest[0] != system:
            return flask.jsonify({"error": {"message": f"no system {rest[0]} on this BMC"}}), 404
        return None

    def own_member(response):
        system = own_system()
        if system and systems_path() == [] and response.status_code == 200 and response.is_json:
            collection = response.get_json()
            collection["Members"] = [m for m in collection.get("Members", [])
                                     if m.get("@odata.id", "").rstrip("/").rsplit("/", 1)[-1] == system]
            collection["Members@odata.count"] = len(collection["Members"])
            response.set_data(json.dumps(collection))
        return response

    by_port: dict[str, str] = {}  # filled once sushy has read its config, before anything listens
    app.before_request(other_system)
    app.after_request(own_member)
    run = app.run

    def run_with_each_system(host, port, ssl_context=None, **options):
        ports = app.config.get("AIFACTORY_BMC_PORTS") or {}
        by_port.update({str(own_port): system for system, own_port in ports.items()})
        for own_port in ports.values():
            server = make_server(host, own_port, app, threaded=True, ssl_context=ssl_context)
            threading.Thread(target=server.serve_forever, name=f"bmc-{own_port}", daemon=True).start()
        return run(host=host, port=port, ssl_context=ssl_context, **options)

    app.run = run_with_each_system


def main(argv: list[str]) -> int:
    from sushy_tools.emulator import main as sushy

    i = argv.index("--firmware")
    fixture = Path(argv[i + 1])
    add_firmware_inventory(sushy.app, fixture)
    add_serial_numbers(sushy.app)
    serve_one_system_per_port(sushy.app)
    sys.argv = ["sushy-emulator", *argv[:i], *argv[i + 2:]]
    return sushy.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
