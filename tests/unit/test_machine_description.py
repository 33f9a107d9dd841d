"""testkit.machine names the CPU generation, not only a virtual machine's bare model name."""

from __future__ import annotations

from testkit.machine import cpu_identity

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: another
flags\t\t: fpu
"""


def test_family_model_and_the_widest_vector_extension_are_named() -> None:
    assert cpu_identity(ZEN4) == "AMD EPYC (family 25 model 17, AVX512F)"


def test_a_cpu_without_avx512_names_avx2() -> None:
    zen3 = ZEN4.replace("model\t\t: 17", "model\t\t: 1").replace(" avx512f avx512bw", "")
    assert cpu_identity(zen3) == "AMD EPYC (family 25 model 1, AVX2)"


def test_an_arm_board_names_its_vector_unit_from_its_features() -> None:
    jetson = "processor\t: 0\nmodel name\t: ARMv8 Processor rev 1 (v8l)\nFeatures\t: fp asimd\n"
    assert cpu_identity(jetson) == "ARMv8 Processor rev 1 (v8l) (asimd)"


def test_no_family_numbers_and_no_flags_leave_the_name_alone() -> None:
    assert cpu_identity("processor\t: 0\nmodel name\t: Some CPU\n") == "Some CPU"
