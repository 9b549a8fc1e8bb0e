using System.Reflection;

namespace Tracer.Tests.Infrastructure;

/// <summary>A test class without a category would run in no category's run; with two, in a run it does not fit.</summary>
[UnitTest]
public sealed class TestCategoryTests
{
    private static readonly Type[] TestClasses = [.. typeof(TestCategoryTests).Assembly.GetTypes()
        .Where(t => t.IsClass && !t.IsAbstract && t.GetMethods().Any(m => m.IsDefined(typeof(FactAttribute), inherit: true)))];

    [Fact]
    public void EveryTestClassHasExactlyOneCategory()
    {
        var wrong = TestClasses
            .Select(t => (Class: t.FullName, Categories: t.GetCustomAttributes<TestCategoryAttribute>(inherit: true).Select(c => c.Name).ToList()))
            .Where(c => c.Categories.Count != 1)
            .Select(c => $"{c.Class}: {(c.Categories.Count == 0 ? "no category" : string.Join(", ", c.Categories))}")
            .ToList();

        Assert.NotEmpty(TestClasses);
        Assert.True(wrong.Count == 0, "give each test class one of [UnitTest], [KernelTest], [MatrixTest]:\n" + string.Join('\n', wrong));
    }

    [Fact]
    public void NoTestSetsTheCategoryByHand()
    {
        var byHand = TestClasses
            .SelectMany(t => t.GetMethods().Cast<MemberInfo>().Prepend(t))
            .Where(m => m.GetCustomAttributesData().Any(a => a.AttributeType == typeof(TraitAttribute) &&
                                                             a.ConstructorArguments[0].Value as string == TestCategoryAttribute.Trait))
            .Select(m => m is Type type ? type.FullName : $"{m.DeclaringType!.FullName}.{m.Name}")
            .ToList();

        Assert.True(byHand.Count == 0, $"[Trait(\"{TestCategoryAttribute.Trait}\", …)] can be misspelled: use [UnitTest], [KernelTest] or [MatrixTest]:\n" + string.Join('\n', byHand));
    }
}
