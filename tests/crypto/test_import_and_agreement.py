"""Imported key material, DeriveSharedSecret and GenerateDataKeyPair. The client side (wrapping key
material, the peer's half of ECDH, using a data key pair) is done with ``cryptography`` directly."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from kmsguard.crypto import LocalKMS

from .conftest import Clock, error_code

# RFC 5903 section 8.1, "256-Bit Random ECP Group": initiator private key i, responder public key
# (grx, gry) and the shared secret girx.
RFC5903_I = int("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433", 16)
RFC5903_GRX = int("D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63", 16)
RFC5903_GRY = int("56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB", 16)
RFC5903_GIRX = bytes.fromhex("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE")


@pytest.fixture
def kms(clock: Clock) -> LocalKMS:
    return LocalKMS(clock=clock)  # unseeded: OpenSSL generates the RSA wrapping keys quickly


def _spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pkcs8(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _wrap(parameters: dict, material: bytes, algorithm: str) -> bytes:
    """What a KMS user does with GetParametersForImport's public key (KMS Developer Guide, "Importing
    key material", "Encrypt the key material")."""
    public = serialization.load_der_public_key(parameters["PublicKey"])
    hash_algorithm = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(hash_algorithm), algorithm=hash_algorithm, label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    aes_key = os.urandom(32)  # CKM_RSA_AES_KEY_WRAP: RSA-OAEP(AES key) || AES-KWP(material)
    return public.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)


def _import(kms: LocalKMS, key_id: str, material: bytes, algorithm: str = "RSAES_OAEP_SHA_256", **extra):
    parameters = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048"
    )
    extra.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms.import_key_material(
        KeyId=key_id,
        ImportToken=parameters["ImportToken"],
        EncryptedKeyMaterial=_wrap(parameters, material, algorithm),
        **extra,
    )


# -- imported key material ------------------------------------------------------------------------------


def test_external_key_is_pending_import_until_material_is_imported(kms):
    # source: KMS API Reference, "CreateKey", Origin: EXTERNAL creates a key with no key material;
    # KMS Developer Guide, "Key states of AWS KMS keys": PendingImport -> KMSInvalidStateException.
    metadata = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert (metadata["Origin"], metadata["KeyState"], metadata["Enabled"]) == (
        "EXTERNAL",
        "PendingImport",
        False,
    )
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=metadata["KeyId"], Plaintext=b"p")
    assert error_code(excinfo) == "KMSInvalidStateException"


@pytest.mark.parametrize(
    "algorithm",
    ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"],
)
def test_imported_symmetric_material_encrypts(kms, algorithm):
    # source: KMS API Reference, "ImportKeyMaterial": "When this operation is successful, the state of
    # the KMS key changes to Enabled"; "GetParametersForImport", WrappingAlgorithm (the four algorithms).
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    answer = _import(kms, key_id, os.urandom(32), algorithm)
    assert len(answer["KeyMaterialId"]) == 64
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "Enabled"
    assert metadata["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_parameters_response_shape_and_lifetime(kms, clock):
    # source: KMS API Reference, "GetParametersForImport": "Each public key and import token set is
    # valid for 24 hours"; an expired token -> ExpiredImportTokenException.
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    parameters = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_3072"
    )
    assert parameters["ParametersValidTo"] == clock.now + timedelta(hours=24)
    assert serialization.load_der_public_key(parameters["PublicKey"]).key_size == 3072
    clock.advance(1.01)
    with pytest.raises(ClientError) as excinfo:
        kms.import_key_material(
            KeyId=key_id,
            ImportToken=parameters["ImportToken"],
            EncryptedKeyMaterial=_wrap(parameters, os.urandom(32), "RSAES_OAEP_SHA_256"),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert error_code(excinfo) == "ExpiredImportTokenException"


def test_token_of_another_key_is_invalid(kms):
    first = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    second = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    parameters = kms.get_parameters_for_import(
        KeyId=first, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    with pytest.raises(ClientError) as excinfo:
        kms.import_key_material(
            KeyId=second,
            ImportToken=parameters["ImportToken"],
            EncryptedKeyMaterial=_wrap(parameters, os.urandom(32), "RSAES_OAEP_SHA_256"),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert error_code(excinfo) == "InvalidImportTokenException"


def test_parameters_only_for_external_keys_and_pkcs1_wrapping_is_gone(kms):
    # source: KMS API Reference, "GetParametersForImport": the key's origin must be EXTERNAL; "As of
    # October 10, 2023, KMS does not support the RSAES_PKCS1_V1_5 wrapping algorithm".
    own = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.get_parameters_for_import(
            KeyId=own, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    assert error_code(excinfo) == "UnsupportedOperationException"
    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.get_parameters_for_import(
            KeyId=external, WrappingAlgorithm="RSAES_PKCS1_V1_5", WrappingKeySpec="RSA_2048"
        )
    assert error_code(excinfo) == "UnsupportedOperationException"


def test_valid_to_rules(kms, clock):
    # source: KMS API Reference, "ImportKeyMaterial", ValidTo: required with KEY_MATERIAL_EXPIRES (the
    # default), not valid otherwise, "a future date and time", at most 365 days away.
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    for extra in (
        {"ExpirationModel": "KEY_MATERIAL_EXPIRES"},
        {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": clock.now + timedelta(days=1)},
        {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": clock.now + timedelta(days=366)},
        {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": clock.now - timedelta(days=1)},
    ):
        with pytest.raises(ClientError) as excinfo:
            _import(kms, key_id, material, **extra)
        assert error_code(excinfo) == "ValidationException", extra


def test_expired_material_makes_the_key_pending_import_and_reimport_restores_it(kms, clock):
    # source: KMS Developer Guide, "Importing key material", "Setting an expiration time": when the
    # material expires KMS deletes it and the key becomes unusable (PendingImport); "To use the KMS key
    # in cryptographic operations again, you must reimport the same key material."
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    _import(
        kms, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=clock.now + timedelta(days=10)
    )
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["ValidTo"] == clock.now + timedelta(days=10)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    clock.advance(10)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as excinfo:
        kms.decrypt(CiphertextBlob=blob)
    assert error_code(excinfo) == "KMSInvalidStateException"
    with pytest.raises(ClientError) as excinfo:
        _import(kms, key_id, os.urandom(32))  # other material
    assert error_code(excinfo) == "IncorrectKeyMaterialException"
    _import(kms, key_id, material)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_delete_imported_key_material(kms):
    # source: KMS API Reference, "DeleteImportedKeyMaterial": the key becomes PendingImport; a key
    # pending deletion keeps its state.
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material_id = _import(kms, key_id, os.urandom(32))["KeyMaterialId"]
    answer = kms.delete_imported_key_material(KeyId=key_id)
    assert answer["KeyMaterialId"] == material_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    other = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    _import(kms, other, os.urandom(32))
    kms.schedule_key_deletion(KeyId=other, PendingWindowInDays=7)
    kms.delete_imported_key_material(KeyId=other)
    assert kms.describe_key(KeyId=other)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    own = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.delete_imported_key_material(KeyId=own)
    assert error_code(excinfo) == "UnsupportedOperationException"


def test_no_automatic_rotation_for_imported_material(kms):
    # source: KMS API Reference, "EnableKeyRotation": automatic rotation is not supported on keys with
    # imported key material.
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    _import(kms, key_id, os.urandom(32))
    with pytest.raises(ClientError) as excinfo:
        kms.enable_key_rotation(KeyId=key_id)
    assert error_code(excinfo) == "UnsupportedOperationException"


def test_wrong_size_symmetric_material_is_incorrect(kms):
    # source: KMS Developer Guide, "Importing key material": symmetric encryption key material is 256 bits.
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        _import(kms, key_id, os.urandom(16))
    assert error_code(excinfo) == "IncorrectKeyMaterialException"


def test_rsa_material_needs_rsa_aes_wrapping_and_then_signs(kms):
    # source: KMS API Reference, "GetParametersForImport", WrappingAlgorithm: "To import an RSA private
    # key, you must use an RSA_AES wrapping algorithm."
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(65537, 2048)
    key_id = kms.create_key(Origin="EXTERNAL", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "KeyId"
    ]
    with pytest.raises(ClientError) as excinfo:
        kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096"
        )
    assert error_code(excinfo) == "ValidationException"
    _import(kms, key_id, _pkcs8(private), "RSA_AES_KEY_WRAP_SHA_256")
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == _spki(private.public_key())
    signature = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    private.public_key().verify(
        signature,
        b"m",
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )


def test_material_of_the_wrong_curve_is_incorrect(kms):
    key_id = kms.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")[
        "KeyMetadata"
    ]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        _import(kms, key_id, _pkcs8(ec.generate_private_key(ec.SECP384R1())), "RSA_AES_KEY_WRAP_SHA_256")
    assert error_code(excinfo) == "IncorrectKeyMaterialException"


# -- DeriveSharedSecret -------------------------------------------------------------------------------------


def test_derive_shared_secret_matches_rfc_5903_vector(kms):
    # source: RFC 5903 section 8.1 (P-256 ECDH test vector), through an imported KEY_AGREEMENT key;
    # KMS API Reference, "DeriveSharedSecret": ECDH with the peer's DER SubjectPublicKeyInfo.
    initiator = ec.derive_private_key(RFC5903_I, ec.SECP256R1())
    responder = ec.EllipticCurvePublicNumbers(RFC5903_GRX, RFC5903_GRY, ec.SECP256R1()).public_key()
    key_id = kms.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")[
        "KeyMetadata"
    ]["KeyId"]
    _import(kms, key_id, _pkcs8(initiator), "RSA_AES_KEY_WRAP_SHA_256")
    answer = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=_spki(responder))
    assert answer["SharedSecret"] == RFC5903_GIRX
    assert (answer["KeyAgreementAlgorithm"], answer["KeyOrigin"]) == ("ECDH", "EXTERNAL")


@pytest.mark.parametrize(
    ("spec", "curve"),
    [("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1()), ("ECC_NIST_P521", ec.SECP521R1())],
)
def test_alice_and_bob_derive_the_same_secret(kms, spec, curve):
    # source: KMS API Reference, "DeriveSharedSecret" (the Alice and Bob workflow).
    alice = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    assert alice["KeyAgreementAlgorithms"] == ["ECDH"]
    bob = ec.generate_private_key(curve)
    secret = kms.derive_shared_secret(
        KeyId=alice["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=_spki(bob.public_key())
    )["SharedSecret"]
    alice_public = serialization.load_der_public_key(kms.get_public_key(KeyId=alice["KeyId"])["PublicKey"])
    assert secret == bob.exchange(ec.ECDH(), alice_public)


def test_derive_shared_secret_errors(kms):
    # source: KMS API Reference, "DeriveSharedSecret": KeyUsage must be KEY_AGREEMENT; both key pairs
    # "must be on the same elliptic curve"; "CreateKey", KeyUsage: ECC_SECG_P256K1 is SIGN_VERIFY only.
    agreement = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    peer = _spki(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(ClientError) as excinfo:
        kms.derive_shared_secret(KeyId=signing, KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    assert error_code(excinfo) == "InvalidKeyUsageException"
    other_curve = _spki(ec.generate_private_key(ec.SECP384R1()).public_key())
    with pytest.raises(ClientError) as excinfo:
        kms.derive_shared_secret(KeyId=agreement, KeyAgreementAlgorithm="ECDH", PublicKey=other_curve)
    assert error_code(excinfo) == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        kms.derive_shared_secret(KeyId=agreement, KeyAgreementAlgorithm="ECDH", PublicKey=b"not DER")
    assert error_code(excinfo) == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="KEY_AGREEMENT")
    assert error_code(excinfo) == "ValidationException"


# -- GenerateDataKeyPair ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P256", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"])
def test_data_key_pair_private_key_is_encrypted_under_the_symmetric_key(kms, spec):
    # source: KMS API Reference, "GenerateDataKeyPair": the public key is DER SubjectPublicKeyInfo,
    # the private key DER PKCS8, and a copy of it is encrypted under the symmetric KMS key with the
    # encryption context.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"purpose": "signing"}
    pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec=spec, EncryptionContext=context)
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
    assert _spki(private.public_key()) == pair["PublicKey"]
    assert pair["KeyPairSpec"] == spec
    decrypted = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], EncryptionContext=context)
    assert decrypted["Plaintext"] == pair["PrivateKeyPlaintext"]
    with pytest.raises(ClientError) as excinfo:
        kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], EncryptionContext={"purpose": "other"})
    assert error_code(excinfo) == "InvalidCiphertextException"


def test_data_key_pair_without_plaintext(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    pair = kms.generate_data_key_pair_without_plaintext(KeyId=key_id, KeyPairSpec="ECC_NIST_P384")
    assert "PrivateKeyPlaintext" not in pair
    private = serialization.load_der_private_key(
        kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"], password=None
    )
    assert _spki(private.public_key()) == pair["PublicKey"]


def test_data_key_pairs_need_a_symmetric_encryption_key(kms):
    # source: KMS API Reference, "GenerateDataKeyPair": "You cannot use an asymmetric KMS key".
    rsa_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.generate_data_key_pair(KeyId=rsa_key, KeyPairSpec="ECC_NIST_P256")
    assert error_code(excinfo) == "InvalidKeyUsageException"
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="SM2")
    assert error_code(excinfo) == "UnsupportedOperationException"


def test_import_state_never_prints_material(kms):
    # Issue 6, point 5: key material never in repr, str or error messages.
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = bytes(range(32))
    _import(kms, key_id, material)
    store = kms._store
    printed = repr(store.keys[key_id]) + repr(list(store.import_parameters.values())) + repr(kms)
    assert material.hex() not in printed and repr(material) not in printed
    assert "import_fingerprint" not in printed and "wrapping_key" not in printed
    with pytest.raises(ClientError) as excinfo:
        _import(kms, key_id, bytes(range(1, 33)))
    assert material.hex() not in str(excinfo.value)


def test_cancelling_deletion_of_a_key_without_material_returns_it_to_pending_import(kms):
    # source: KMS Developer Guide, "Deleting AWS KMS keys" (cancel -> Disabled) and "Key states of AWS
    # KMS keys" (a key with no key material is PendingImport).
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_valid_to_accepts_the_timestamp_forms_boto3_accepts(kms, clock):
    # botocore serializes a timestamp given as a datetime (naive = UTC), ISO 8601 text or epoch seconds.
    in_ten_days = clock.now + timedelta(days=10)
    for form in (in_ten_days.replace(tzinfo=None), in_ten_days.isoformat(), int(in_ten_days.timestamp())):
        key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        _import(kms, key_id, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=form)
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["ValidTo"] == in_ten_days
