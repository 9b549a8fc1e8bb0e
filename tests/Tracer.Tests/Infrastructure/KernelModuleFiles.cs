using System.Text;

namespace Tracer.Tests.Infrastructure;

/// <summary>
/// Files shaped like kernel modules, made with the real tools: an ELF object whose <c>.modinfo</c> section holds
/// <c>key=value</c> strings placed as the kernel's MODULE_INFO places them (gcc), signed as scripts/sign-file signs
/// (openssl, through tests/tools/sign-module.sh). This machine's kernel cannot load modules; the kernel matrix loads real ones.
/// </summary>
internal static class KernelModuleFiles
{
    /// <summary>Compiles an object with the given .modinfo fields ("author=…") and a function, to <paramref name="path"/>.</summary>
    public static string Build(string path, params string[] fields)
    {
        var source = new StringBuilder();
        for (var i = 0; i < fields.Length; i++)
        {
            var literal = fields[i].Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
            source.AppendLine($"static const char modinfo_{i}[] __attribute__((section(\".modinfo\"), used, aligned(1))) = \"{literal}\";");
        }
        source.AppendLine("int edr_hook(void) { return 0; }");
        var c = path + ".c";
        File.WriteAllText(c, source.ToString());
        try
        {
            Shell.Check("gcc", "-c", "-o", path, c);
        }
        finally
        {
            File.Delete(c);
        }
        return path;
    }

    /// <summary>A throwaway RSA key and self-signed certificate with this common name; returns their paths and the certificate's serial (hex).</summary>
    public static (string Key, string Certificate, string Serial) SigningKey(string directory, string commonName)
    {
        var key = Path.Combine(directory, "signing_key.pem");
        var certificate = Path.Combine(directory, "signing_key.x509.pem");
        Shell.Check("openssl", "req", "-new", "-x509", "-nodes", "-newkey", "rsa:2048", "-days", "1",
                    "-subj", $"/O=Tracer tests/CN={commonName}", "-keyout", key, "-out", certificate);
        var serial = Shell.Check("openssl", "x509", "-in", certificate, "-noout", "-serial").Trim();
        return (key, certificate, serial["serial=".Length..]);
    }

    /// <summary>Appends a signature to the module as scripts/sign-file does.</summary>
    public static void Sign(string module, (string Key, string Certificate, string Serial) signingKey, string hash = "sha256") =>
        Shell.Check(Path.Combine(RepositoryPaths.Root, "tests", "tools", "sign-module.sh"), hash, signingKey.Key, signingKey.Certificate, module);
}
