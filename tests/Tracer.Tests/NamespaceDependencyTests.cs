using System.Reflection;
using System.Reflection.Emit;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests;

/// <summary>
/// Tracer's folders are its data path (probes → attribution → records → outputs → commands): a folder may use
/// the ones before it, never one after. A cycle between two namespaces is where that path doubles back, so
/// the compiled assembly is read for every reference one namespace makes to another — in signatures,
/// base types and method bodies (IL tokens, lambdas included) — and any cycle fails with one example per step.
/// </summary>
[UnitTest]
public sealed class NamespaceDependencyTests
{
    private static readonly Assembly Tracer = typeof(global::Tracer.Native.NativeException).Assembly;

    [Fact]
    public void NoNamespaceOfTracerDependsOnItselfThroughAnother()
    {
        var edges = Dependencies();
        var cycles = StronglyConnected(edges).Where(c => c.Count > 1).ToList();
        var report = cycles.Select(cycle => string.Join("; ", cycle
            .SelectMany(from => cycle.Where(to => edges[from].ContainsKey(to)).Select(to => $"{from} → {to} ({edges[from][to]})"))));
        Assert.True(cycles.Count == 0, "namespace cycles:\n" + string.Join("\n", report));
    }

    [Fact]
    public void TheGuardSeesReferencesInMethodBodies()
    {
        // The CLI builds the daemon's host inside a method body only: if IL were not read, this edge would be missed
        // and the guard above could pass vacuously.
        var edges = Dependencies();
        Assert.True(edges.TryGetValue("Tracer.Cli", out var cli) && cli.ContainsKey("Tracer.Daemon"),
                    "no Tracer.Cli → Tracer.Daemon reference found; the scan is broken");
    }

    /// <summary>Namespace → namespaces it uses → one example ("Type uses Type").</summary>
    private static Dictionary<string, Dictionary<string, string>> Dependencies()
    {
        var edges = new Dictionary<string, Dictionary<string, string>>();
        foreach (var type in Tracer.GetTypes())
        {
            var from = NamespaceOf(type);
            if (from is null)
                continue;
            if (!edges.TryGetValue(from, out var targets))
                edges[from] = targets = [];
            foreach (var used in Uses(type))
            {
                if (NamespaceOf(used) is { } to && to != from)
                    targets.TryAdd(to, $"{Outermost(type).Name} uses {Outermost(used).Name}");
            }
        }
        foreach (var to in edges.Values.SelectMany(t => t.Keys).ToList())
            edges.TryAdd(to, []);
        return edges;
    }

    /// <summary>The namespace a type belongs to in Tracer (a nested or compiler-generated type: its outermost type's); null outside Tracer.</summary>
    private static string? NamespaceOf(Type type)
    {
        var element = type.HasElementType ? type.GetElementType()! : type;
        var outer = Outermost(element);
        return outer.Assembly == Tracer && outer.Namespace?.StartsWith("Tracer", StringComparison.Ordinal) == true ? outer.Namespace : null;
    }

    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is { } declaring)
            type = declaring;
        return type;
    }

    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance |
                                          BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static IEnumerable<Type> Uses(Type type)
    {
        var used = new List<Type>();
        if (type.BaseType is { } baseType)
            used.Add(baseType);
        used.AddRange(type.GetInterfaces());
        used.AddRange(type.GetFields(Declared).Select(f => f.FieldType));
        used.AddRange(type.GetProperties(Declared).Select(p => p.PropertyType));
        foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
        {
            if (method is MethodInfo info)
                used.Add(info.ReturnType);
            used.AddRange(method.GetParameters().Select(p => p.ParameterType));
            used.AddRange(BodyReferences(method));
        }
        return used.SelectMany(Expand);
    }

    /// <summary>A type and its generic arguments and element types, recursively.</summary>
    private static IEnumerable<Type> Expand(Type type)
    {
        yield return type;
        if (type.HasElementType)
            foreach (var inner in Expand(type.GetElementType()!))
                yield return inner;
        if (type.IsGenericType)
            foreach (var argument in type.GetGenericArguments().Where(a => !a.IsGenericParameter).SelectMany(Expand))
                yield return argument;
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Types named by the tokens of a method body: members called, fields read, types created or tested.</summary>
    private static IEnumerable<Type> BodyReferences(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
            yield break;
        var typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var at = 0;
        while (at < il.Length)
        {
            var value = il[at] == 0xFE ? (short)(0xFE00 | il[at + 1]) : il[at];
            at += il[at] == 0xFE ? 2 : 1;
            var opCode = OpCodesByValue[value];
            if (opCode.OperandType is OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok)
            {
                var member = Resolve(method.Module, BitConverter.ToInt32(il, at), typeArguments, methodArguments);
                if (member is Type referenced)
                    yield return referenced;
                else if (member?.DeclaringType is { } owner)
                    yield return owner;
                if (member is FieldInfo field)
                    yield return field.FieldType;
                if (member is MethodInfo called)
                    yield return called.ReturnType;
            }
            at += OperandSize(opCode, il, at);
        }
    }

    private static MemberInfo? Resolve(Module module, int token, Type[]? typeArguments, Type[]? methodArguments)
    {
        try
        {
            return module.ResolveMember(token, typeArguments, methodArguments);
        }
        catch (ArgumentException)
        {
            return null; // a vararg signature or a token outside this module's tables: not a Tracer type
        }
    }

    private static int OperandSize(OpCode opCode, byte[] il, int at) => opCode.OperandType switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, at),
        _ => 4,
    };

    /// <summary>Tarjan's strongly connected components: each component of more than one namespace is a cycle.</summary>
    private static List<List<string>> StronglyConnected(Dictionary<string, Dictionary<string, string>> edges)
    {
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var components = new List<List<string>>();
        void Visit(string node)
        {
            index[node] = low[node] = index.Count;
            stack.Push(node);
            foreach (var next in edges[node].Keys)
            {
                if (!index.ContainsKey(next))
                {
                    Visit(next);
                    low[node] = Math.Min(low[node], low[next]);
                }
                else if (stack.Contains(next))
                {
                    low[node] = Math.Min(low[node], index[next]);
                }
            }
            if (low[node] != index[node])
                return;
            var component = new List<string>();
            string member;
            do
            {
                member = stack.Pop();
                component.Add(member);
            } while (member != node);
            components.Add(component);
        }
        foreach (var node in edges.Keys.Order(StringComparer.Ordinal))
        {
            if (!index.ContainsKey(node))
                Visit(node);
        }
        return components;
    }
}
