"""Encrypt / Decrypt / ReEncrypt / GenerateDataKey / GenerateRandom through LocalKMS."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from kmsguard.crypto import LocalKMS

from .conftest import error_code


@pytest.fixture
def key_id(kms):
    return kms.create_key()["KeyMetadata"]["KeyId"]


def test_round_trip_without_key_id(kms, key_id):
    # source: KMS API Reference, "Decrypt", KeyId: optional for symmetric ciphertexts.
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"hello", EncryptionContext={"tenant": "a"})
    assert encrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"tenant": "a"})
    assert decrypted["Plaintext"] == b"hello"
    assert decrypted["KeyId"] == encrypted["KeyId"]


@pytest.mark.parametrize(
    ("encrypt_context", "decrypt_context"),
    [
        ({"ab": "c"}, {"a": "bc"}),  # moto's concatenation collision
        ({"tenant": "a"}, {"tenant": "b"}),
        ({"tenant": "a"}, {"Tenant": "a"}),  # case-sensitive
        ({"tenant": "a"}, None),
        ({"tenant": "a"}, {"tenant": "a", "extra": "x"}),
        (None, {"tenant": "a"}),
    ],
)
def test_encryption_context_must_match_exactly(kms, key_id, encrypt_context, decrypt_context):
    # source: KMS API Reference, "Encrypt": "you must specify the same encryption context (a
    # case-sensitive exact match) when decrypting ... Otherwise, the request to decrypt fails with an
    # InvalidCiphertextException".
    extra = {"EncryptionContext": encrypt_context} if encrypt_context else {}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p", **extra)["CiphertextBlob"]
    extra = {"EncryptionContext": decrypt_context} if decrypt_context else {}
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob, **extra)


def test_encryption_context_order_does_not_matter(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"x": "1", "y": "2"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"y": "2", "x": "1"})["Plaintext"] == b"p"


def test_any_changed_byte_fails_as_invalid_ciphertext(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"payload")["CiphertextBlob"]
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(ClientError) as excinfo:
            kms.decrypt(CiphertextBlob=bytes(tampered))
        assert error_code(excinfo) in ("InvalidCiphertextException", "NotFoundException")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob[:-1])


def test_wrong_key_id_is_incorrect_key(kms, key_id):
    # source: KMS API Reference, "IncorrectKeyException": the KeyId in a Decrypt request must identify
    # the KMS key that encrypted the ciphertext.
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    with pytest.raises(kms.exceptions.IncorrectKeyException):
        kms.decrypt(CiphertextBlob=blob, KeyId=other)


def test_plaintext_limits(kms, key_id):
    # source: KMS API Reference, "Encrypt", Plaintext: 1 to 4096 bytes (botocore shape PlaintextType).
    assert kms.encrypt(KeyId=key_id, Plaintext=b"x" * 4096)["CiphertextBlob"]
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"x" * 4097)
    assert error_code(excinfo) == "ValidationException"
    assert excinfo.value.response["Error"]["Message"] == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096"
    )
    # botocore's client-side validator does not check blob lengths, so KMS answers for b"" too.
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"")
    assert error_code(excinfo) == "ValidationException"
    assert "greater than or equal to 1" in excinfo.value.response["Error"]["Message"]


def test_client_validation_off_moves_minimum_checks_to_the_server(clock):
    # A boto3 client with parameter_validation=False sends NumberOfBytes=0; KMS answers
    # ValidationException (botocore shape NumberOfBytesType: min 1).
    unvalidated = LocalKMS(seed=3, clock=clock, client_validation=False)
    with pytest.raises(ClientError) as excinfo:
        unvalidated.generate_random(NumberOfBytes=0)
    assert error_code(excinfo) == "ValidationException"


def test_ciphertext_limit(kms):
    # source: KMS API Reference, "Decrypt", CiphertextBlob: up to 6144 bytes.
    with pytest.raises(ClientError) as excinfo:
        kms.decrypt(CiphertextBlob=b"x" * 6145)
    assert error_code(excinfo) == "ValidationException"


@pytest.fixture(scope="module")
def rsa_kms():
    # Unseeded: OpenSSL generates RSA keys far faster than the seeded (pure Python) prime search.
    kms = LocalKMS()
    keys = {
        spec: kms.create_key(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
        for spec in ("RSA_2048", "RSA_3072", "RSA_4096")
    }
    return kms, keys


# source: KMS API Reference, "Encrypt": maximum plaintext sizes for RSA key specs.
@pytest.mark.parametrize(
    ("spec", "algorithm", "maximum"),
    [
        ("RSA_2048", "RSAES_OAEP_SHA_1", 214),
        ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
        ("RSA_3072", "RSAES_OAEP_SHA_1", 342),
        ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
        ("RSA_4096", "RSAES_OAEP_SHA_1", 470),
        ("RSA_4096", "RSAES_OAEP_SHA_256", 446),
    ],
)
def test_rsa_oaep_plaintext_maxima(rsa_kms, spec, algorithm, maximum):
    kms, keys = rsa_kms
    key_id = keys[spec]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"m" * maximum, EncryptionAlgorithm=algorithm)[
        "CiphertextBlob"
    ]
    assert len(blob) == int(spec[4:]) // 8
    decrypted = kms.decrypt(CiphertextBlob=blob, KeyId=key_id, EncryptionAlgorithm=algorithm)
    assert decrypted["Plaintext"] == b"m" * maximum
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"m" * (maximum + 1), EncryptionAlgorithm=algorithm)
    assert error_code(excinfo) == "ValidationException"


def test_rsa_needs_an_rsa_algorithm_and_no_context(rsa_kms):
    kms, keys = rsa_kms
    key_id = keys["RSA_2048"]
    # The default EncryptionAlgorithm is SYMMETRIC_DEFAULT (API Reference, "Encrypt"), which an RSA
    # key does not support.
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.encrypt(KeyId=key_id, Plaintext=b"m")
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(
            KeyId=key_id,
            Plaintext=b"m",
            EncryptionAlgorithm="RSAES_OAEP_SHA_256",
            EncryptionContext={"a": "b"},
        )
    assert error_code(excinfo) == "ValidationException"
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"m", EncryptionAlgorithm="RSAES_OAEP_SHA_256")[
        "CiphertextBlob"
    ]
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob, KeyId=key_id, EncryptionAlgorithm="RSAES_OAEP_SHA_1")


def test_rsa_ciphertext_decrypts_with_the_public_key_contract(rsa_kms):
    # The public key from GetPublicKey encrypts data the KMS key decrypts (API Reference,
    # "GetPublicKey": "encrypt data outside of KMS").
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    kms, keys = rsa_kms
    der = kms.get_public_key(KeyId=keys["RSA_2048"])["PublicKey"]
    public_key = serialization.load_der_public_key(der)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    blob = public_key.encrypt(b"offline", oaep)
    decrypted = kms.decrypt(
        CiphertextBlob=blob, KeyId=keys["RSA_2048"], EncryptionAlgorithm="RSAES_OAEP_SHA_256"
    )
    assert decrypted["Plaintext"] == b"offline"


def test_re_encrypt_moves_ciphertext_between_keys_and_contexts(kms, key_id):
    destination = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"move me", EncryptionContext={"a": "1"})["CiphertextBlob"]
    moved = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"a": "1"},
        DestinationKeyId=destination,
        DestinationEncryptionContext={"b": "2"},
    )
    assert moved["SourceKeyId"].endswith(key_id) and moved["KeyId"].endswith(destination)
    assert (
        kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"b": "2"})["Plaintext"]
        == b"move me"
    )
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "2"}, DestinationKeyId=destination)


def test_generate_data_key(kms, key_id):
    # source: KMS API Reference, "GenerateDataKey": KeySpec AES_256 / AES_128 or NumberOfBytes.
    response = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"f": "g"})
    assert len(response["Plaintext"]) == 32
    again = kms.decrypt(CiphertextBlob=response["CiphertextBlob"], EncryptionContext={"f": "g"})
    assert again["Plaintext"] == response["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key_id, KeySpec="AES_128")["Plaintext"]) == 16
    assert len(kms.generate_data_key(KeyId=key_id, NumberOfBytes=64)["Plaintext"]) == 64
    without = kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256")
    assert "Plaintext" not in without
    assert len(kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 32


@pytest.mark.parametrize("params", [{}, {"KeySpec": "AES_256", "NumberOfBytes": 32}])
def test_generate_data_key_needs_exactly_one_length(kms, key_id, params):
    # source: KMS API Reference, "GenerateDataKey": "Use either the KeySpec or NumberOfBytes
    # parameters (but not both)".
    with pytest.raises(ClientError) as excinfo:
        kms.generate_data_key(KeyId=key_id, **params)
    assert error_code(excinfo) == "ValidationException"


def test_data_keys_only_from_symmetric_encryption_keys(kms):
    # source: KMS API Reference, "GenerateDataKey": "You cannot use an asymmetric KMS key".
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.generate_data_key(KeyId=signing, KeySpec="AES_256")


def test_generate_random_limits(kms):
    # source: KMS API Reference, "GenerateRandom", NumberOfBytes: 1 to 1024.
    assert len(kms.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024
    with pytest.raises(ClientError) as excinfo:
        kms.generate_random(NumberOfBytes=1025)
    assert error_code(excinfo) == "ValidationException"
    with pytest.raises(ParamValidationError):
        kms.generate_random(NumberOfBytes=0)


def test_seeded_runs_are_reproducible(clock):
    def run(seed):
        kms = LocalKMS(seed=seed, clock=clock)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        return key_id, kms.encrypt(KeyId=key_id, Plaintext=b"same")["CiphertextBlob"]

    assert run(5) == run(5)
    assert run(5) != run(6)
    assert run(None) != run(None)


def test_dry_run(kms, key_id):
    # source: KMS Developer Guide, "Testing your permissions": DryRun answers
    # DryRunOperationException when the request would succeed.
    with pytest.raises(kms.exceptions.DryRunOperationException):
        kms.encrypt(KeyId=key_id, Plaintext=b"p", DryRun=True)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    with pytest.raises(kms.exceptions.DryRunOperationException):
        kms.decrypt(CiphertextBlob=blob, DryRun=True)
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob + b"x", DryRun=True)
    with pytest.raises(kms.exceptions.DryRunOperationException):
        kms.decrypt(CiphertextBlob=b"junk", KeyId=key_id, DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])
