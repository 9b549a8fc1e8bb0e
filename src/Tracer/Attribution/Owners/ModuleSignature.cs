using System.Buffers.Binary;
using System.Formats.Asn1;
using System.Text;

namespace Tracer.Attribution;

/// <summary>
/// The signature a module file carries, as modinfo shows it: <c>signer</c> (the common name of the issuer the
/// signer info names), <c>sig_key</c> (that certificate's serial number, or the subject key identifier it names
/// instead) and <c>sig_hashalgo</c>. scripts/sign-file appends, in order, a DER PKCS#7 SignedData (detached, no
/// certificates), a <c>struct module_signature</c> (include/linux/module_signature.h: five bytes, three of padding,
/// the big-endian length of the PKCS#7) and the marker <c>~Module signature appended~\n</c>.
/// </summary>
internal sealed record ModuleSignature(string? Signer, string? Key, string? HashAlgorithm)
{
    private static ReadOnlySpan<byte> Marker => "~Module signature appended~\n"u8;

    private const int InfoSize = 12;      // sizeof(struct module_signature)
    private const byte IdTypePkcs7 = 2;   // PKEY_ID_PKCS7, the only kind sign-file writes since 4.3
    private const string SignedDataOid = "1.2.840.113549.1.7.2";
    private const string CommonNameOid = "2.5.4.3";

    /// <summary>Whether the file ends with the marker, readable signature or not.</summary>
    public static bool IsAppended(byte[] file) => file.AsSpan().EndsWith(Marker);

    /// <summary>The signature appended to a module file; null when there is none, or it is cut short or not PKCS#7.</summary>
    public static ModuleSignature? Read(byte[] file)
    {
        if (!IsAppended(file) || file.Length < Marker.Length + InfoSize)
            return null;
        var info = file.AsSpan(file.Length - Marker.Length - InfoSize, InfoSize);
        var length = BinaryPrimitives.ReadUInt32BigEndian(info[8..]);
        var available = file.Length - Marker.Length - InfoSize;
        // sign-file leaves algo, hash, signer_len and key_id_len zero: they described the pre-PKCS#7 format.
        if (info[2] != IdTypePkcs7 || length == 0 || length > available)
            return null;
        try
        {
            return FromSignedData(file.AsMemory(available - (int)length, (int)length));
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    /// <summary>ContentInfo { signedData, [0] SignedData { version, digestAlgorithms, content, [0] certs?, [1] crls?, signerInfos } } (RFC 2315 9.1).</summary>
    private static ModuleSignature? FromSignedData(ReadOnlyMemory<byte> der)
    {
        var contentInfo = new AsnReader(der, AsnEncodingRules.BER).ReadSequence();
        if (contentInfo.ReadObjectIdentifier() != SignedDataOid)
            return null;
        var signedData = contentInfo.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
        signedData.ReadInteger();
        signedData.ReadSetOf();
        signedData.ReadSequence();
        if (signedData.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            signedData.ReadEncodedValue();
        if (signedData.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
            signedData.ReadEncodedValue();
        var signerInfos = signedData.ReadSetOf();
        return signerInfos.HasData ? FromSignerInfo(signerInfos.ReadSequence()) : null;
    }

    /// <summary>SignerInfo { version, sid: IssuerAndSerialNumber | [0] SubjectKeyIdentifier, digestAlgorithm, … } (RFC 5652 5.3).</summary>
    private static ModuleSignature FromSignerInfo(AsnReader signerInfo)
    {
        signerInfo.ReadInteger();
        string? signer = null, key;
        if (signerInfo.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
            key = Hex(signerInfo.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 0)));
        else
        {
            var issuerAndSerial = signerInfo.ReadSequence();
            signer = CommonName(issuerAndSerial.ReadSequence());
            key = Hex(issuerAndSerial.ReadIntegerBytes().Span.TrimStart((byte)0).ToArray()); // the magnitude, as OpenSSL keeps it
        }
        var digest = signerInfo.ReadSequence().ReadObjectIdentifier();
        return new ModuleSignature(signer, key, HashName(digest));
    }

    /// <summary>The first CN of a Name (SEQUENCE OF SET OF { type, value }).</summary>
    private static string? CommonName(AsnReader name)
    {
        while (name.HasData)
        {
            var set = name.ReadSetOf();
            while (set.HasData)
            {
                var attribute = set.ReadSequence();
                if (attribute.ReadObjectIdentifier() == CommonNameOid)
                    return DirectoryString(attribute);
            }
        }
        return null;
    }

    private static string DirectoryString(AsnReader value)
    {
        var tag = value.PeekTag();
        if (tag.TagClass == TagClass.Universal && (UniversalTagNumber)tag.TagValue is UniversalTagNumber.UTF8String or UniversalTagNumber.PrintableString
                or UniversalTagNumber.IA5String or UniversalTagNumber.T61String or UniversalTagNumber.BMPString or UniversalTagNumber.UniversalString)
            return value.ReadCharacterString((UniversalTagNumber)tag.TagValue);
        // Any other string type: its content bytes.
        var encoded = value.ReadEncodedValue().Span;
        AsnDecoder.ReadEncodedValue(encoded, AsnEncodingRules.BER, out var offset, out var length, out _);
        return Encoding.Latin1.GetString(encoded.Slice(offset, length));
    }

    /// <summary>As modinfo prints a key: upper-case hex bytes joined by colons.</summary>
    private static string Hex(byte[] bytes) => string.Join(':', bytes.Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>The digest's name as modinfo prints it; an algorithm it has no name for, by its OID.</summary>
    private static string HashName(string oid) => oid switch
    {
        "1.3.14.3.2.26" => "sha1",
        "2.16.840.1.101.3.4.2.4" => "sha224",
        "2.16.840.1.101.3.4.2.1" => "sha256",
        "2.16.840.1.101.3.4.2.2" => "sha384",
        "2.16.840.1.101.3.4.2.3" => "sha512",
        "2.16.840.1.101.3.4.2.8" => "sha3-256",
        "2.16.840.1.101.3.4.2.9" => "sha3-384",
        "2.16.840.1.101.3.4.2.10" => "sha3-512",
        _ => oid,
    };
}
