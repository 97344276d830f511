"""What pyproject.toml cannot say: the packages are found (aifactory and the Pulumi program `infra`)
plus `aifactory._project`, the checkout's root mapped into the package (pyproject.toml's package-dir),
whose package data are the playbooks, ansible.cfg, the Pulumi project files and the policy pack
(aifactory.core.project finds them). Of the root's own Python files (this one) nothing ships."""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PROJECT = "aifactory._project"


class BuildPy(build_py):
    """build_py that takes no module from the root: the mapped package ships data only."""

    def find_package_modules(self, package, package_dir):
        return [] if package == PROJECT else super().find_package_modules(package, package_dir)


setup(packages=[*find_packages(include=["aifactory", "aifactory.*", "infra"]), PROJECT], cmdclass={"build_py": BuildPy})
