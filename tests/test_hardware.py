"""The hardware catalogue against the published spec rows it was copied from."""

import csv
from pathlib import Path

import pytest

from sim.errors import ConfigError
from sim.hardware import catalogue, gpu

CONTRACT_NAMES = ["A100-SXM-40GB", "A100-SXM-80GB", "H100-SXM-80GB", "H800-SXM-80GB",
                  "H200-SXM-141GB", "B200-180GB", "GB200", "MI300X"]


def test_contract_gpu_names_present():
    assert set(CONTRACT_NAMES) <= set(catalogue())


@pytest.mark.parametrize("name,bf16,fp8,hbm_GB,hbm_TBps,nvlink", [
    ("A100-SXM-80GB", 312, None, 80, 2.039, 300),
    ("H100-SXM-80GB", 989, 1979, 80, 3.35, 450),
    ("H200-SXM-141GB", 989, 1979, 141, 4.8, 450),
    ("B200-180GB", 2250, 4500, 180, 8.0, 900),
    ("GB200", 2500, 5000, 186, 8.0, 900),
    ("MI300X", 1307.4, 2614.9, 192, 5.3, 448),
])
def test_dense_rates_match_reference_hardware_rows(name, bf16, fp8, hbm_GB, hbm_TBps, nvlink):
    # figures from ../shared/reference/hardware.csv (dense, no sparsity)
    g = gpu(name)
    assert g.peak_flops("bf16") == bf16 * 1e12
    if fp8:
        assert g.peak_flops("fp8") == fp8 * 1e12
    # marketed HBM capacities are binary (GiB); the runtime sees ~99 % of them (driver, ECC)
    assert 0.98 * hbm_GB * 2**30 <= g.hbm_bytes <= hbm_GB * 2**30
    assert g.hbm_Bps == pytest.approx(hbm_TBps * 1e12)
    assert g.scaleup_Bps == nvlink * 1e9


def test_missing_precision_falls_back_to_a_wider_one():
    assert gpu("A100-SXM-80GB").peak_flops("fp8") == gpu("A100-SXM-80GB").peak_flops("bf16")
    assert gpu("H100-SXM-80GB").peak_flops("fp4") == gpu("H100-SXM-80GB").peak_flops("fp8")


def test_unknown_gpu_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError) as err:
        gpu("H100-PCIE")
    assert err.value.key == "topology.gpu" and "known" in str(err.value)


def test_every_entry_cites_a_source():
    for spec in catalogue().values():
        assert len(spec.source) > 10


# -- GPUs defined in a config (issue 11, item 6) ---------------------------------------------

from sim import hardware as _hw  # noqa: E402
from sim.errors import ConfigError as _CE  # noqa: E402


def test_issue11_catalogue_has_the_new_parts_with_sources():
    cat = _hw.catalogue()
    for name in ("V100-SXM2-32GB", "V100-PCIE-32GB", "V100S-PCIE-32GB", "A800-SXM-80GB", "H20-96GB",
                 "L40S", "MI325X", "B300-288GB", "GB300"):
        src = cat[name].source.lower()
        assert ("datasheet" in src or "product" in src) and (".pdf" in src or "http" in src or "transcribed" in src), name
    # vendor figures: V100S 130 fp16 TFLOPS at 1,134 GB/s; H20 148 bf16; MI325X 6 TB/s
    assert cat["V100S-PCIE-32GB"].peak_flops("fp16") == 130e12
    assert cat["V100S-PCIE-32GB"].hbm_Bps == 1134e9
    assert cat["H20-96GB"].peak_flops("bf16") == 148e12
    assert cat["MI325X"].hbm_Bps == 6000e9


def test_a_precision_given_as_zero_is_lacking_not_a_fallback():
    v100 = _hw.gpu("V100-SXM2-32GB")
    assert v100.peak_flops("fp16") == 125e12
    with pytest.raises(_CE, match="no bf16"):
        v100.peak_flops("bf16")
    with pytest.raises(_CE):
        v100.peak_flops("fp8")          # fp8 -> bf16 fallback is lacking too


def test_define_with_like_borrows_fields_and_overrides_given_ones():
    spec = _hw.define("T-like", {"like": "A100-SXM-40GB", "dense_tflops": {"fp16": 130, "bf16": 0},
                                 "hbm_GB": 32, "hbm_GBps": 1134})
    assert _hw.gpu("T-like") is spec and spec.defined and spec.like == "A100-SXM-40GB"
    assert spec.peak_flops("fp16") == 130e12 and spec.hbm_Bps == 1134e9
    assert spec.scaleup_Bps == _hw.gpu("A100-SXM-40GB").scaleup_Bps     # borrowed


def test_a_partial_dense_table_overrides_the_likes_rates_per_precision():
    # dense_tflops = { bf16 = 1200 } on a B200 replaced its whole table: fp8 / fp4 fell back to bf16
    b200 = _hw.gpu("B200-180GB")
    spec = _hw.define("T-partial", {"like": "B200-180GB", "dense_tflops": {"bf16": 1200}})
    assert spec.peak_flops("bf16") == 1200e12
    for p in ("fp8", "fp4", "fp16", "fp32"):
        assert spec.peak_flops(p) == b200.peak_flops(p), p
    assert set(spec.dense_flops) - {"bf16"} == set(b200.dense_flops) - {"bf16"}
    # a precision given as 0 is lacked, the others still the like's
    lacks = _hw.define("T-partial-nofp4", {"like": "B200-180GB", "dense_tflops": {"fp4": 0}})
    assert lacks.lacks == ("fp4",) and lacks.peak_flops("fp8") == b200.peak_flops("fp8")
    with pytest.raises(_CE, match="no fp4"):
        lacks.peak_flops("fp4")


@pytest.mark.parametrize("like, words", [("T-self", "is this GPU itself"),
                                         ("T-other", "is a GPU defined in a config")])
def test_a_like_naming_itself_or_another_defined_gpu_says_so(like, words):
    # it read as "unknown GPU 'T-self'" though the config defines it
    with pytest.raises(_CE) as err:
        _hw.define("T-self", {"like": like}, defined_here=("T-self", "T-other"))
    assert err.value.key == "hardware.T-self.like" and words in err.value.reason
    assert "A100-SXM-40GB" in err.value.reason                      # the catalogued ones to choose from


def test_define_without_like_needs_the_rates():
    with pytest.raises(_CE) as err:
        _hw.define("T-bare", {"dense_tflops": {"fp16": 100}, "hbm_GB": 16})
    assert err.value.key == "hardware.T-bare.hbm_GBps"
    spec = _hw.define("T-bare", {"dense_tflops": {"fp16": 100}, "hbm_GB": 16, "hbm_GBps": 500})
    assert spec.scaleup_Bps == _hw.DEFINED_DEFAULTS["scaleup_GBps"] * 1e9


@pytest.mark.parametrize("row,key", [
    ({"like": "V99"}, "hardware.T-bad.like"),
    ({"like": "A100-SXM-40GB", "hbm_GBps": -1}, "hardware.T-bad.hbm_GBps"),
    ({"like": "A100-SXM-40GB", "dense_tflops": {"fp17": 3}}, "hardware.T-bad.dense_tflops.fp17"),
    # every rate 0 (the like's rates fill the precisions a table leaves out, so all are given)
    ({"like": "A100-SXM-40GB", "dense_tflops": {"fp16": 0, "bf16": 0, "fp32": 0, "tf32": 0, "int8": 0}},
     "hardware.T-bad.dense_tflops"),
    ({"like": "A100-SXM-40GB", "colour": "green"}, "hardware.T-bad.colour"),
    ({"like": "H100-SXM-80GB", "hbm_GB": 1e9}, "hardware.T-bad.hbm_GB"),          # GB given in bytes
    ({"like": "H100-SXM-80GB", "power_W": 7e5}, "hardware.T-bad.power_W"),
    ({"like": "H100-SXM-80GB", "dense_tflops": {"fp16": 130e12}}, "hardware.T-bad.dense_tflops.fp16"),  # FLOP/s
    ({"like": "B200-180GB", "dense_tflops": {"fp4": 9e12}}, "hardware.T-bad.dense_tflops.fp4"),
    ({"like": "H100-SXM-80GB", "special_Tops": 5e12}, "hardware.T-bad.special_Tops"),
    # below any chip: hbm_GBps = 1e-9 ran, each request taking ~80,000 simulated years
    ({"like": "H100-SXM-80GB", "hbm_GBps": 1e-9}, "hardware.T-bad.hbm_GBps"),
    ({"like": "H100-SXM-80GB", "hbm_GB": 0.08}, "hardware.T-bad.hbm_GB"),           # TB given as GB
    ({"like": "H100-SXM-80GB", "scaleup_GBps": 1e-6}, "hardware.T-bad.scaleup_GBps"),
    ({"like": "H100-SXM-80GB", "dense_tflops": {"bf16": 1e-9}}, "hardware.T-bad.dense_tflops.bf16"),
    ({"like": "H100-SXM-80GB", "host_speed": 0}, "hardware.T-bad.host_speed"),
    ({"like": "H100-SXM-80GB", "host_speed": 850}, "hardware.T-bad.host_speed"),     # a percentage slip
    ({"like": "H100-SXM-80GB", "host_cpu": ""}, "hardware.T-bad.host_cpu"),         # an empty CPU name
    ({"like": "H100-SXM-80GB", "host_cpu": "  "}, "hardware.T-bad.host_cpu"),
    # like = "" read as no like (then 'dense_tflops required'), vendor = "" ran as a nameless maker
    ({"like": "", "dense_tflops": {"bf16": 100}, "hbm_GB": 80, "hbm_GBps": 2000}, "hardware.T-bad.like"),
    ({"like": "H100-SXM-80GB", "vendor": ""}, "hardware.T-bad.vendor"),
    # 'nvidia' ran, silently missing NVIDIA's scale-up efficiency (sim.collectives keys it by the catalogue's spelling)
    ({"like": "H100-SXM-80GB", "vendor": "nvidia"}, "hardware.T-bad.vendor"),
    # a runtime-visible capacity above the marketed one ran as that much HBM
    ({"like": "H100-SXM-80GB", "hbm_usable_GiB": 200}, "hardware.T-bad.hbm_usable_GiB"),
    ({"dense_tflops": {"bf16": 100}, "hbm_GB": 80, "hbm_GBps": 2000, "hbm_usable_GiB": 81}, "hardware.T-bad.hbm_usable_GiB"),
])
def test_bad_hardware_tables_name_the_key(row, key):
    with pytest.raises(_CE) as err:
        _hw.define("T-bad", row)
    assert err.value.key == key


def test_an_empty_gpu_name_is_refused_and_a_vendor_of_ones_own_is_kept():
    # [hardware." "] was registered under a blank name
    with pytest.raises(_CE, match="empty name"):
        _hw.define(" ", {"like": "H100-SXM-80GB"})
    assert _hw.define("T-acme", {"like": "H100-SXM-80GB", "vendor": "Acme"}).vendor == "Acme"
    assert _hw.define("T-nv", {"like": "H100-SXM-80GB", "vendor": "NVIDIA"}).vendor == "NVIDIA"


def test_a_catalogue_name_cannot_be_redefined():
    with pytest.raises(_CE, match="already in the catalogue"):
        _hw.define("H100-SXM-80GB", {"like": "A100-SXM-80GB"})


def test_a_power_cap_below_the_likes_lowers_the_sustained_clock_by_the_cube_root():
    capped = _hw.define("T-capped", {"like": "H100-SXM-80GB", "power_W": 500})
    # dynamic power (above the 75 W idle) ~ f^3 (sim.stragglers.cap_speed has the same law)
    assert capped.clock_scale == pytest.approx(((500 - 75) / (700 - 75)) ** (1 / 3))
    assert capped.sustained_flops("bf16") == pytest.approx(989e12 * capped.clock_scale)
    assert capped.peak_flops("bf16") == 989e12                       # MFU keeps the nominal peak
    assert _hw.define("T-more", {"like": "H100-SXM-80GB", "power_W": 1000}).clock_scale == 1.0
    assert _hw.gpu("H100-SXM-80GB").clock_scale == 1.0


def test_mi355x_is_catalogued_with_its_source():
    # CDNA 4: 256 CUs x 8,192 FP8 FLOPs per clock x 2.4 GHz = 5.03 PFLOPS FP8 dense
    g = _hw.gpu("MI355X")
    assert g.peak_flops("fp8") == pytest.approx(256 * 8192 * 2.4e9, rel=1e-3)
    assert g.peak_flops("bf16") == pytest.approx(g.peak_flops("fp8") / 2, rel=1e-3)
    assert g.peak_flops("fp4") == pytest.approx(2 * g.peak_flops("fp8"), rel=1e-3)
    assert g.hbm_Bps == 8000e9 and g.power_W == 1400 and g.scaleup_kind == "mesh"
    assert "MI355X" in g.source and "1,400 W" in g.source

def test_config_hbm_GB_of_dcsim_hardware_defines_a_gpu_of_the_same_capacity():
    from sim.hardware import config_hbm_GB, define
    for name, spec in catalogue().items():
        twin = define(f"twin-of-{name}", {"like": name, "hbm_GB": config_hbm_GB(spec)})
        assert twin.hbm_bytes == pytest.approx(spec.hbm_bytes, rel=2e-4), name


@pytest.mark.parametrize("key, value", [("vendor", 5), ("notes", 1.5), ("scaleup_kind", 3), ("nvls", "no"),
                                        ("nvls", 1), ("host_cpu", 0.85)])
def test_define_refuses_a_text_or_flag_field_of_the_wrong_type(key, value):
    # vendor = 5 was kept as the number 5, nvls = "no" read as true (bool("no"))
    with pytest.raises(_CE) as err:
        _hw.define(f"T-type-{key}", {"like": "A100-SXM-40GB", key: value})
    assert err.value.key == f"hardware.T-type-{key}.{key}"


def test_host_cpu_is_a_property_of_the_machine_with_its_source():
    # the serving engines' host times were fitted on x86 DGX hosts (speed 1); Grace-hosted boards
    # carry their single-thread speed relative to those, with the log it comes from
    for name in ("H100-SXM-80GB", "H200-SXM-141GB", "B200-180GB"):
        assert _hw.gpu(name).host_speed == 1.0 and _hw.gpu(name).host_cpu == _hw.HOST_CPU_X86
    raw = _hw._raw()["gpu"]
    for name in ("GB200", "GB300"):
        g = _hw.gpu(name)
        assert "Grace" in g.host_cpu and g.host_speed == pytest.approx(25 / 29.4, abs=0.005)
    assert "#10273" in open(__import__("sim").__path__[0] + "/data/hardware.toml").read()
    assert "host_speed" in raw["GB200"]
    # a defined GPU borrows its like's host, or gives its own
    assert _hw.define("T-grace", {"like": "GB200"}).host_speed == pytest.approx(0.85)
    mine = _hw.define("T-host", {"like": "B200-180GB", "host_cpu": "EPYC 9575F", "host_speed": 1.2})
    assert mine.host_cpu == "EPYC 9575F" and mine.host_speed == 1.2
    assert _hw.define("T-nohost", {"dense_tflops": {"fp16": 100}, "hbm_GB": 16, "hbm_GBps": 500}).host_speed == 1.0
    # a percentage slip is named as a ratio's bound, not as "not a GPU's"
    for v in (85, 12, 0.001):      # 85 for 0.85: a percentage
        with pytest.raises(ConfigError) as err:
            _hw.define("T-slip", {"like": "B200-180GB", "host_speed": v})
        assert err.value.key == "hardware.T-slip.host_speed" and "ratio" in str(err.value) and "GPU's" not in str(err.value)


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_gpu_name_in_the_topology_says_so(name):
    # it suggested defining a [hardware."  "] table, which define() refuses
    with pytest.raises(_CE) as err:
        _hw.gpu(name)
    assert err.value.key == "topology.gpu" and "is empty" in str(err.value) and "[hardware.\"  \"]" not in str(err.value)


def test_a_usable_capacity_within_the_marketed_one_is_kept():
    spec = _hw.define("T-usable", {"like": "H100-SXM-80GB", "hbm_GB": 96, "hbm_usable_GiB": 94.5})
    assert spec.hbm_bytes == 94.5 * _hw.GiB


def test_grace_dispatch_speed_is_transformer_engines_torch_op_ratio():
    """Eager kernel dispatch (one PyTorch op's CPU side and launch) on Grace: TransformerEngine issue
    #2053 times a torch Linear forward's CPU runtime at 37.08 us on GB200 and 13.48 us on DGX H100, so
    hardware.toml's dispatch_speed is 13.48 / 37.08 (GB200, GB300: the same CPU); the x86 boards
    dispatch at their host_speed, 1; a defined GPU borrows its like's or gives its own, and a
    percentage slip is an error naming the key."""
    for name in ("GB200", "GB300"):
        g = _hw.gpu(name)
        assert g.dispatch_speed == pytest.approx(13.48 / 37.08, abs=0.001)
        assert g.launch_speed == g.dispatch_speed < g.host_speed
    for name in ("H100-SXM-80GB", "H200-SXM-141GB", "B200-180GB"):
        assert _hw.gpu(name).dispatch_speed == 0.0 and _hw.gpu(name).launch_speed == 1.0
    assert "#2053" in open(__import__("sim").__path__[0] + "/data/hardware.toml").read()
    assert _hw.define("T-grace-d", {"like": "GB200"}).launch_speed == pytest.approx(0.364)
    assert _hw.define("T-own-d", {"like": "B200-180GB", "host_speed": 0.9}).launch_speed == 0.9
    for v in (36.4, 0.0, -1.0):
        with pytest.raises(ConfigError) as err:
            _hw.define("T-dslip", {"like": "B200-180GB", "dispatch_speed": v})
        assert err.value.key == "hardware.T-dslip.dispatch_speed"


def test_a_defined_gpu_with_its_own_dispatch_speed_is_not_its_likes_calibration():
    from sim.compute import calibration_inputs_changed
    same = _hw.define("T-gb-same", {"like": "GB200"})
    own = _hw.define("T-gb-disp", {"like": "GB200", "dispatch_speed": 0.8})
    assert "dispatch_speed" not in calibration_inputs_changed(same.name)
    assert "dispatch_speed" in calibration_inputs_changed(own.name)


def test_an_out_of_range_dispatch_speed_is_explained_as_dispatch_not_single_thread_speed():
    with pytest.raises(ConfigError) as err:
        _hw.define("X-DISPATCH", {"like": "H100-SXM-80GB", "dispatch_speed": 11})
    msg = str(err.value)
    assert "dispatch_speed" in msg and "kernel launch" in msg and "Grace 0.364" in msg and "single-thread" not in msg


def test_every_catalogued_gpu_names_its_architecture():
    # generation-specific behaviour (Blackwell's FP8 layouts, its TP-overlap SMs) read the name's
    # prefix, so a [hardware] GPU like a B200 under another name lost it: it reads arch now
    cat = catalogue()
    assert all(g.arch in _hw.ARCHS for g in cat.values()), {n: g.arch for n, g in cat.items()}
    assert {n for n, g in cat.items() if g.arch == "blackwell"} == {"B200-180GB", "GB200", "B300-288GB", "GB300"}
    assert {n for n, g in cat.items() if g.arch == "hopper"} == {"H100-SXM-80GB", "H800-SXM-80GB", "H200-SXM-141GB",
                                                                 "H20-96GB"}
    assert cat["B200-180GB"].sms == 148 and cat["GB200"].sms == 152 and cat["H20-96GB"].sms == 78


def test_every_catalogued_gpu_with_sms_or_cus_gives_their_count():
    # the TP-overlap model divides a GEMM's time by (SMs - num_sm) / SMs; V100, L40S and the AMD
    # parts had no sms and ran with H100's 132 (an MI300X's 304 CUs read as 132)
    cat = catalogue()
    assert {n for n, g in cat.items() if not g.sms} == {"TPU-v4"}      # no SMs on a TPU
    assert {n: cat[n].sms for n in ("V100-SXM2-32GB", "V100-PCIE-32GB", "V100S-PCIE-32GB", "L40S", "MI300X",
                                    "MI325X", "MI355X")} == {
        "V100-SXM2-32GB": 80, "V100-PCIE-32GB": 80, "V100S-PCIE-32GB": 80, "L40S": 142, "MI300X": 304,
        "MI325X": 304, "MI355X": 256}
    from workloads.training.costs import gpu_sms
    assert gpu_sms("MI300X") == 304 and gpu_sms("TPU-v4") == 132


def test_a_defined_gpu_takes_its_likes_architecture_or_its_own():
    mine = _hw.define("T-arch", {"like": "B200-180GB"})
    assert (mine.arch, mine.sms) == ("blackwell", 148)
    told = _hw.define("B200-T-arch", {"like": "H100-SXM-80GB", "arch": "blackwell", "sms": 140})
    assert (told.arch, told.sms) == ("blackwell", 140)
    bare = _hw.define("B200-T-bare", {"dense_tflops": {"bf16": 100}, "hbm_GB": 80, "hbm_GBps": 2000})
    assert (bare.arch, bare.sms) == ("", 0)          # a generic chip, whatever its name says


def test_every_catalogued_gpu_runs_an_architecture_of_its_vendor():
    # the set of arches per vendor is one table; every catalogued row is consistent with it
    assert set(_hw.ARCHS) == {a for archs in _hw.ARCHS_BY_VENDOR.values() for a in archs}
    assert all(g.arch in _hw.ARCHS_BY_VENDOR[g.vendor] for g in catalogue().values())


@pytest.mark.parametrize("row, words", [
    ({"like": "MI300X", "arch": "blackwell"}, "blackwell is one of NVIDIA's architectures; T-arch-vendor's vendor is AMD"),
    ({"like": "H100-SXM-80GB", "arch": "cdna3"}, "cdna3 is one of AMD's architectures; T-arch-vendor's vendor is NVIDIA"),
    ({"like": "TPU-v4", "arch": "hopper"}, "give arch = one of Google's (tpu-v4)"),
    ({"like": "H100-SXM-80GB", "vendor": "AMD"}, "hopper (the arch of its like, H100-SXM-80GB) is one of NVIDIA's"),
    ({"dense_tflops": {"bf16": 100}, "hbm_GB": 80, "hbm_GBps": 2000, "vendor": "AMD", "arch": "hopper"},
     "give arch = one of AMD's (cdna3, cdna4), or set vendor = 'NVIDIA'"),
    ({"dense_tflops": {"bf16": 100}, "hbm_GB": 80, "hbm_GBps": 2000, "vendor": "Intel", "arch": "ampere"},
     "leave arch out")])
def test_an_arch_of_another_vendor_is_refused(row, words):
    # [hardware."X"] like = "MI300X" with arch = "blackwell" ran Blackwell's FP8 casts and TP-overlap
    # SMs on an AMD chip, with only an "arch differs" warning
    with pytest.raises(_CE) as err:
        _hw.define("T-arch-vendor", row)
    assert err.value.key == "hardware.T-arch-vendor.arch" and words in err.value.reason, err.value.reason


def test_only_an_arch_of_another_vendor_is_refused_not_one_of_its_own_or_an_unnamed_vendors():
    # the rule's other side: a same-vendor arch stays a warning ("arch differs"), a chip without a
    # vendor ("custom") may name any arch, an unlisted vendor keeps its like's
    with pytest.raises(_CE):
        _hw.define("T-arch-no", {"like": "MI300X", "arch": "hopper"})
    for i, (row, arch) in enumerate([
            ({"like": "MI300X", "arch": "cdna4"}, "cdna4"),
            ({"like": "H100-SXM-80GB", "arch": "blackwell"}, "blackwell"),
            ({"dense_tflops": {"bf16": 100}, "hbm_GB": 80, "hbm_GBps": 2000, "arch": "hopper"}, "hopper"),
            ({"like": "H100-SXM-80GB", "vendor": "Intel"}, "hopper")]):
        assert _hw.define(f"T-arch-ok-{i}", row).arch == arch


@pytest.mark.parametrize("key, value, words", [
    ("arch", "Hopper", "write 'hopper'"),          # a misspelling ran as a generic chip
    ("arch", "b200", "one of volta, ampere"),
    ("arch", 10, "must be a string"),
    ("sms", 0, "must be an integer"),
    ("sms", 132.5, "must be an integer"),
    ("sms", True, "must be an integer")])
def test_a_bad_arch_or_sms_names_the_key_and_why(key, value, words):
    with pytest.raises(_CE) as err:
        _hw.define("T-arch-bad", {"like": "H100-SXM-80GB", key: value})
    assert err.value.key == f"hardware.T-arch-bad.{key}" and words in err.value.reason


@pytest.mark.parametrize("typo, meant", [("hbm_gbps", "hbm_GBps"), ("scaleup_gbps", "scaleup_GBps"),
                                         ("powerW", "power_W")])
def test_an_unknown_hardware_key_suggests_the_field_it_is_close_to(typo, meant):
    # fresh27 #8c: hbm_gbps = 5000 said "unknown key; known: ..." where config keys suggest (train.tpp: 'tp')
    with pytest.raises(_CE) as err:
        _hw.define("T-typo", {"like": "H100-SXM-80GB", typo: 1})
    assert err.value.key == f"hardware.T-typo.{typo}"
    assert f"did you mean {meant!r}?" in err.value.reason
