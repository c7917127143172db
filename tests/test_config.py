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


def test_a_list_parameter_is_settable_in_the_configuration(tmp_path):
    (tmp_path / ".kmsguard.toml").write_text('[params]\nrequire_customer_managed_key_for = ["sqs", "s3"]\n')
    params = load_config(start=tmp_path).get("params")
    assert params == {"require_customer_managed_key_for": ("sqs", "s3")}


def test_a_list_parameter_of_non_strings_is_one_clear_line(tmp_path):
    (tmp_path / ".kmsguard.toml").write_text("[params]\nrequire_customer_managed_key_for = [1, 2]\n")
    with pytest.raises(ConfigError, match="lists of strings") as info:
        load_config(start=tmp_path)
    assert "\n" not in str(info.value)


def test_a_list_parameter_from_the_configuration_reaches_the_rule(tmp_path, monkeypatch, capsys):
    from kmsguard.cli import main

    (tmp_path / "main.tf").write_text(
        'resource "aws_sqs_queue" "q" {\n  name = "q"\n  kms_master_key_id = "alias/aws/sqs"\n}\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KMSGUARD_NO_CACHE", "1")
    main(["check", "main.tf"])
    assert "KMS030" not in capsys.readouterr().out  # kms-core requires a CMK for cloudtrail only
    (tmp_path / ".kmsguard.toml").write_text('[params]\nrequire_customer_managed_key_for = ["sqs"]\n')
    main(["check", "main.tf"])
    assert "KMS030" in capsys.readouterr().out
