import pytest

from kmsguard.config import ConfigError, load_config


def test_pyproject_section_is_found_from_a_subdirectory(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.kmsguard]\nseverity = "high"\ntrusted_accounts = ["111122223333"]\n'
    )
    sub = tmp_path / "infra" / "kms"
    sub.mkdir(parents=True)
    config = load_config(start=sub)
    assert config.get("severity") == "high"
    assert config.get("trusted-accounts") == ["111122223333"]
    assert config.path == str(tmp_path / "pyproject.toml")


def test_dotfile_wins_over_a_pyproject_higher_up(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.kmsguard]\nseverity = "high"\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / ".kmsguard.toml").write_text('severity = "low"\nselect = "KMS0,KMS1"\n')
    config = load_config(start=sub)
    assert config.get("severity") == "low"
    assert config.get("select") == ["KMS0", "KMS1"]


def test_pyproject_without_a_kmsguard_section_is_ignored(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n")
    assert load_config(start=tmp_path).path is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("severity = 3\n", "option 'severity' must be a string"),
        ("colour = 'red'\n", "unknown option 'colour'"),
        ("account = '1234'\n", "12-digit"),
        ("org-id = 'org-1'\n", "org-id must look like"),
        ("trusted-accounts = ['x']\n", "12-digit"),
        ("severity = \n", "invalid TOML"),
    ],
)
def test_bad_configuration_is_one_clear_line(tmp_path, body, message):
    (tmp_path / ".kmsguard.toml").write_text(body)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(start=tmp_path)
    assert str(info.value).startswith(str(tmp_path / ".kmsguard.toml"))
    assert "\n" not in str(info.value)


def test_explicit_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(str(tmp_path / "nope.toml"))
