namespace Tracer.Native;

/// <summary>The C declaration a generated type was produced from, e.g. <c>struct drop_key</c>.</summary>
[AttributeUsage(AttributeTargets.Struct | AttributeTargets.Enum)]
internal sealed class NativeTypeNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
