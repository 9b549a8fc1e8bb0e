using System.Buffers.Binary;
using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>The signature parser on modules really signed the way scripts/sign-file signs them (openssl, a throwaway key).</summary>
[UnitTest]
public sealed class ModuleSignatureTests : IDisposable
{
    private const string CommonName = "Example EDR Inc. signing key";
    private const int InfoAndMarker = 12 + 28; // struct module_signature, "~Module signature appended~\n"

    private readonly string _directory = Directory.CreateTempSubdirectory("tracer-modsig-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("sha256")]
    [InlineData("sha512")]
    public void TheSignerIsTheCertificatesCommonNameAndTheKeyItsSerial(string hash)
    {
        var (module, serial) = SignedModule(hash);

        var signature = ModuleSignature.Read(File.ReadAllBytes(module));

        Assert.NotNull(signature);
        Assert.Equal(CommonName, signature.Signer);
        Assert.Equal(serial.TrimStart('0'), signature.Key!.Replace(":", "", StringComparison.Ordinal).TrimStart('0'));
        Assert.Equal(hash, signature.HashAlgorithm);
    }

    [Fact]
    public void AnUnsignedModuleHasNoSignature()
    {
        var bytes = File.ReadAllBytes(KernelModuleFiles.Build(Path.Combine(_directory, "plain.ko"), "version=1.0"));

        Assert.False(ModuleSignature.IsAppended(bytes));
        Assert.Null(ModuleSignature.Read(bytes));
    }

    /// <summary>The marker is there but what precedes it is not a whole signature: no signer is claimed.</summary>
    [Fact]
    public void ASignatureCutShortOrMangledNamesNoSigner()
    {
        var bytes = File.ReadAllBytes(SignedModule("sha256").Module);
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(bytes.Length - InfoAndMarker + 8));
        var signatureStart = bytes.Length - InfoAndMarker - length;

        // The PKCS#7's first half gone (the length now reaches into the module's code).
        byte[] cut = [.. bytes[..signatureStart], .. bytes[(signatureStart + length / 2)..]];
        // The length larger than the file.
        var tooLong = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(tooLong.AsSpan(bytes.Length - InfoAndMarker + 8), (uint)bytes.Length);
        // Not PKCS#7 (id_type 1: the X.509 form of kernels before 4.3, which sign-file no longer writes).
        var otherType = (byte[])bytes.Clone();
        otherType[bytes.Length - InfoAndMarker + 2] = 1;
        // Only the info block and the marker.
        var bare = bytes[^InfoAndMarker..];

        foreach (var mangled in new[] { cut, tooLong, otherType, bare })
        {
            Assert.True(ModuleSignature.IsAppended(mangled));
            Assert.Null(ModuleSignature.Read(mangled));
        }
    }

    private (string Module, string Serial) SignedModule(string hash)
    {
        var module = KernelModuleFiles.Build(Path.Combine(_directory, $"edr_agent-{hash}.ko"), "version=7.1.3", "license=GPL");
        var key = KernelModuleFiles.SigningKey(_directory, CommonName);
        KernelModuleFiles.Sign(module, key, hash);
        return (module, key.Serial);
    }
}
