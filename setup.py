"""Maps the top-level folders agent/, cli/, demo/, mappers/, model/ to rtletter.agent, rtletter.cli, rtletter.demo,
rtletter.mappers, rtletter.model.

Why a setup.py: setuptools' pyproject tables cannot rename a folder tree to a dotted prefix together with its
subpackages, and hatchling refuses editable installs with prefix rewrites.
"""

from setuptools import find_namespace_packages, setup

TOPS = ("agent", "cli", "demo", "mappers", "model")

setup(
    # namespace packages: data folders (templates/, configs/tiny/, static/) are packages too, so their files ship
    packages=[f"rtletter.{p}" for p in find_namespace_packages(include=[f"{t}*" for t in TOPS])],
    package_dir={f"rtletter.{t}": t for t in TOPS},
    package_data={"": ["*.j2", "*.yaml", "*.yml", "*.html", "*.css", "*.js", "*.json", "*.hl7", "*.txt", "*.jinja"]},
)
