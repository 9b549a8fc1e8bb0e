using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Tracer.Errors;

namespace Tracer.Kernel;

/// <summary>A kernel text address resolved to its function, offset and module.</summary>
internal readonly record struct KernelSymbol(string Name, ulong Offset, string? Module)
{
    /// <summary>True for code loaded by a module rather than built into the kernel image.</summary>
    public bool IsModule => Module is not null and not "bpf" and not "__builtin__ftrace";

    /// <summary>True for a JIT-compiled BPF program (<c>bpf_prog_&lt;tag&gt;_&lt;name&gt;</c>).</summary>
    public bool IsBpfProgram => Module == "bpf";

    public override string ToString() =>
        Module is null ? $"{Name}+0x{Offset:x}" : $"{Name}+0x{Offset:x} [{Module}]";
}

/// <summary>
/// Symbolizer over /proc/kallsyms, including module and <c>[bpf]</c> symbols.
/// Only text symbols are kept: drop locations and hook functions are code.
/// </summary>
/// <remarks>
/// A kernel has 100,000 and more of them. Their names are kept as one ASCII block, parsed from bytes without a string
/// per line, and become strings only when a symbol is asked for: as strings they took about 9 MB of a process that
/// runs on every node, and parsing them line by line another 40 MB of garbage at start, which the GC kept committed.
/// </remarks>
internal sealed class KernelSymbols
{
    public const string DefaultPath = "/proc/kallsyms";

    private readonly ulong[] _addresses;   // sorted
    private readonly int[] _nameStarts;    // per symbol, into _names
    private readonly ushort[] _nameLengths;
    private readonly short[] _modules;     // per symbol, into _moduleNames; -1: the kernel image
    private readonly byte[] _names;
    private readonly string[] _moduleNames;

    private KernelSymbols(ulong[] addresses, int[] nameStarts, ushort[] nameLengths, short[] modules, byte[] names, string[] moduleNames)
    {
        _addresses = addresses;
        _nameStarts = nameStarts;
        _nameLengths = nameLengths;
        _modules = modules;
        _names = names;
        _moduleNames = moduleNames;
    }

    public int Count => _addresses.Length;

    public static KernelSymbols Load(string path = DefaultPath)
    {
        using var stream = File.OpenRead(path);
        var symbols = Parse(stream);
        if (symbols.Count == 0)
            throw new UserError(
                $"{path} shows this process no addresses (kernel.kptr_restrict hides them without CAP_SYSLOG): Tracer could not name drop locations.",
                $"Run it as root with CAP_SYSLOG; see {UserError.PermissionsSection}.", ExitCodes.MissingPrivilegeOrFeature);
        return symbols;
    }

    /// <summary>Reads kallsyms' lines: <c>ffffffffc0a01000 t edr_hook\t[edr_agent]</c>.</summary>
    public static KernelSymbols Parse(Stream kallsyms)
    {
        var table = new TableBuilder();
        var buffer = new byte[64 * 1024];
        var filled = 0;
        int read;
        while ((read = kallsyms.Read(buffer, filled, buffer.Length - filled)) > 0 || filled > 0)
        {
            filled += read;
            var pending = buffer.AsSpan(0, filled);
            int newline;
            while ((newline = pending.IndexOf((byte)'\n')) >= 0)
            {
                table.AddLine(pending[..newline]);
                pending = pending[(newline + 1)..];
            }
            if (read == 0)
            {
                table.AddLine(pending); // the last line, without a newline
                break;
            }
            if (pending.Length == buffer.Length)
                throw new InvalidDataException($"a line of kallsyms is longer than {buffer.Length} bytes");
            pending.CopyTo(buffer);
            filled = pending.Length;
        }
        return table.Build();
    }

    /// <summary>The symbol containing <paramref name="address"/>, or null below the first symbol.</summary>
    public KernelSymbol? Resolve(ulong address)
    {
        var index = Array.BinarySearch(_addresses, address);
        if (index < 0)
            index = ~index - 1;
        if (index < 0)
            return null;
        return new KernelSymbol(Encoding.ASCII.GetString(Name(index)), address - _addresses[index],
                                _modules[index] < 0 ? null : _moduleNames[_modules[index]]);
    }

    /// <summary>
    /// The address of a text symbol, or 0: the kernel image's if it has one, else a module's
    /// (nf_tables is a module on most distributions' kernels).
    /// </summary>
    public ulong AddressOf(string name)
    {
        var wanted = Encoding.ASCII.GetBytes(name);
        var fromModule = 0UL;
        for (var i = 0; i < _addresses.Length; i++)
        {
            if (!Name(i).SequenceEqual(wanted))
                continue;
            if (_modules[i] < 0)
                return _addresses[i];
            fromModule = fromModule == 0 ? _addresses[i] : fromModule;
        }
        return fromModule;
    }

    private ReadOnlySpan<byte> Name(int index) => _names.AsSpan(_nameStarts[index], _nameLengths[index]);

    /// <summary>The symbols in kallsyms' order while it is read; sorted by address once it has been.</summary>
    private sealed class TableBuilder
    {
        private readonly List<ulong> _addresses = new(1 << 17);
        private readonly List<int> _nameStarts = new(1 << 17);
        private readonly List<ushort> _nameLengths = new(1 << 17);
        private readonly List<short> _modules = new(1 << 17);
        private readonly MemoryStream _names = new(1 << 21);
        private readonly List<string> _moduleNames = [];
        private readonly Dictionary<string, short> _moduleIndex = new(StringComparer.Ordinal);

        public void AddLine(ReadOnlySpan<byte> line)
        {
            var address = NextField(ref line);
            var type = NextField(ref line);
            var name = NextField(ref line);
            var module = NextField(ref line);
            if (name.IsEmpty || name.Length > ushort.MaxValue || type.Length != 1 || "tTwW"u8.IndexOf(type[0]) < 0 ||
                !Utf8Parser.TryParse(address, out ulong value, out var used, 'x') || used != address.Length || value == 0)
                return;
            _addresses.Add(value);
            _nameStarts.Add((int)_names.Length);
            _nameLengths.Add((ushort)name.Length);
            _names.Write(name);
            _modules.Add(module.Length > 2 && module[0] == '[' && module[^1] == ']' ? ModuleIndex(module[1..^1]) : (short)-1);
        }

        private short ModuleIndex(ReadOnlySpan<byte> module)
        {
            var name = Encoding.ASCII.GetString(module); // a few hundred modules: one string each, looked up per symbol
            if (!_moduleIndex.TryGetValue(name, out var index))
            {
                _moduleIndex[name] = index = checked((short)_moduleNames.Count);
                _moduleNames.Add(name);
            }
            return index;
        }

        private static ReadOnlySpan<byte> NextField(ref ReadOnlySpan<byte> line)
        {
            line = line.TrimStart(" \t"u8);
            var end = line.IndexOfAny(" \t"u8);
            var field = end < 0 ? line : line[..end];
            line = end < 0 ? [] : line[end..];
            return field;
        }

        public KernelSymbols Build()
        {
            var addresses = _addresses.ToArray();
            var order = new int[addresses.Length];
            for (var i = 0; i < order.Length; i++)
                order[i] = i;
            Array.Sort(addresses, order);
            return new KernelSymbols(addresses, [.. order.Select(i => _nameStarts[i])], [.. order.Select(i => _nameLengths[i])],
                                     [.. order.Select(i => _modules[i])], _names.ToArray(), [.. _moduleNames]);
        }
    }

    /// <summary>
    /// The address of a kernel data symbol (kept out of the table, which holds code), or 0 when kallsyms
    /// does not list it (kernels without CONFIG_KALLSYMS_ALL) or hides addresses.
    /// </summary>
    public static ulong DataAddress(string name, string path = DefaultPath)
    {
        foreach (var line in File.ReadLines(path))
        {
            // "ffffffff82a1b2c0 D secclass_map" (d/D data, r/R read-only data, b/B bss)
            var parts = line.Split(' ', 4);
            if (parts.Length >= 3 && parts[2] == name && parts[1].Length == 1 && "dDrRbB".Contains(parts[1][0], StringComparison.Ordinal) &&
                ulong.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var address))
                return address;
        }
        return 0;
    }

    /// <summary><c>symbol+0xoff [module]</c>, or the bare address when nothing matches.</summary>
    public string Describe(ulong address) => Resolve(address)?.ToString() ?? $"0x{address:x}";
}
