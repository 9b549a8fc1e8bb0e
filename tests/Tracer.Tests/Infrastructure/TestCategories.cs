using Xunit.Abstractions;
using Xunit.Sdk;

namespace Tracer.Tests.Infrastructure;

/// <summary>
/// What a test class needs to run, as the xunit trait <c>Category</c> (<c>dotnet test --filter Category=unit</c>;
/// <c>./build.sh test unit|kernel|matrix</c>). Each test class carries exactly one (<see cref="TestCategoryTests"/>);
/// attributes rather than <c>[Trait]</c> strings, so that a category cannot be misspelled.
/// </summary>
public abstract class TestCategoryAttribute(string name) : Attribute, ITraitAttribute
{
    public const string Trait = "Category";

    public string Name => name;
}

/// <summary>Logic and files only: no root, no kernel feature. May run out/tracer as the calling user.</summary>
[TraitDiscoverer("Tracer.Tests.Infrastructure.TestCategoryDiscoverer", "Tracer.Tests")]
[AttributeUsage(AttributeTargets.Class)]
public sealed class UnitTestAttribute() : TestCategoryAttribute("unit");

/// <summary>The machine's own kernel, as root: network namespaces, nftables, BPF, kernel symbols and BTF.</summary>
[TraitDiscoverer("Tracer.Tests.Infrastructure.TestCategoryDiscoverer", "Tracer.Tests")]
[AttributeUsage(AttributeTargets.Class)]
public sealed class KernelTestAttribute() : TestCategoryAttribute("kernel");

/// <summary>Other kernels, booted in QEMU by tests/kernel-matrix/matrix.sh (root, several minutes).</summary>
[TraitDiscoverer("Tracer.Tests.Infrastructure.TestCategoryDiscoverer", "Tracer.Tests")]
[AttributeUsage(AttributeTargets.Class)]
public sealed class MatrixTestAttribute() : TestCategoryAttribute("matrix");

/// <summary>Gives xunit the trait of a <see cref="TestCategoryAttribute"/>.</summary>
public sealed class TestCategoryDiscoverer : ITraitDiscoverer
{
    public IEnumerable<KeyValuePair<string, string>> GetTraits(IAttributeInfo traitAttribute) =>
        [new(TestCategoryAttribute.Trait, ((TestCategoryAttribute)((IReflectionAttributeInfo)traitAttribute).Attribute).Name)];
}
