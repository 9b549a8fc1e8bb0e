using System.Buffers.Binary;
using System.Text;

namespace Tracer.Attribution;

/// <summary>
/// The fields a kernel module carries in its ELF section <c>.modinfo</c> — what modinfo prints: one
/// <c>key=value</c> string per MODULE_INFO (MODULE_AUTHOR, MODULE_VERSION, MODULE_LICENSE, …), NUL-terminated,
/// plus what modpost adds (vermagic, srcversion, intree, depends). Read by Tracer itself: neither the DaemonSet image
/// nor a minimal node needs kmod's modinfo.
/// </summary>
internal sealed class ModuleInfo(IReadOnlyList<KeyValuePair<string, string>> fields)
{
    /// <summary>Every field in file order; keys such as alias, depends and parm repeat.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fields => fields;

    /// <summary>The first value of <paramref name="key"/>, null when the module has none.</summary>
    public string? this[string key] => fields.FirstOrDefault(f => f.Key == key).Value;

    /// <summary>The fields of an ELF file's <c>.modinfo</c> section; null when the bytes are not ELF or have no such section.</summary>
    public static ModuleInfo? Read(byte[] elf) =>
        ElfSection(elf, ".modinfo") is { } section ? new ModuleInfo(Parse(section)) : null;

    /// <summary>The NUL-separated <c>key=value</c> strings; the padding between them (runs of NULs) and strings without '=' are no field.</summary>
    internal static List<KeyValuePair<string, string>> Parse(ReadOnlySpan<byte> section)
    {
        var fields = new List<KeyValuePair<string, string>>();
        foreach (var range in section.Split((byte)0))
        {
            var text = Encoding.UTF8.GetString(section[range]);
            var equals = text.IndexOf('=');
            if (equals > 0)
                fields.Add(new(text[..equals], text[(equals + 1)..]));
        }
        return fields;
    }

    /// <summary>
    /// The contents of the named section: the ELF header's section header table (either class, either byte order;
    /// more than 0xff00 sections keep their count and the names' index in section 0), the names from the section
    /// name string table. Null where anything lies outside the bytes.
    /// </summary>
    private static byte[]? ElfSection(byte[] elf, string name)
    {
        if (elf.Length < 52 || !elf.AsSpan(0, 4).SequenceEqual((ReadOnlySpan<byte>)[0x7f, (byte)'E', (byte)'L', (byte)'F']))
            return null;
        var wide = elf[4] switch { 1 => false, 2 => true, _ => (bool?)null };
        var little = elf[5] switch { 1 => true, 2 => false, _ => (bool?)null };
        if (wide is not { } is64 || little is not { } le || (is64 && elf.Length < 64))
            return null;
        var reader = new ElfReader(elf, le);
        var tableOffset = is64 ? reader.U64(0x28) : reader.U32(0x20);
        var entrySize = reader.U16(is64 ? 0x3a : 0x2e);
        ulong count = reader.U16(is64 ? 0x3c : 0x30);
        ulong namesIndex = reader.U16(is64 ? 0x3e : 0x32);
        if (tableOffset == 0 || tableOffset >= (ulong)elf.Length || entrySize < (is64 ? 64 : 40))
            return null;
        Section? Header(ulong index)
        {
            var at = tableOffset + index * entrySize;
            if (at + entrySize > (ulong)elf.Length)
                return null;
            var offset = (int)at;
            return is64
                ? new Section(reader.U32(offset), reader.U64(offset + 0x18), reader.U64(offset + 0x20), reader.U32(offset + 0x28))
                : new Section(reader.U32(offset), reader.U32(offset + 0x10), reader.U32(offset + 0x14), reader.U32(offset + 0x18));
        }
        if (count == 0 || namesIndex == 0xffff) // SHN_XINDEX: the real values are in section 0
        {
            if (Header(0) is not { } first)
                return null;
            if (count == 0)
                count = first.Size;
            if (namesIndex == 0xffff)
                namesIndex = first.Link;
        }
        if (namesIndex >= count || Header(namesIndex) is not { } names || Contents(elf, names) is not { } nameTable)
            return null;
        var wanted = Encoding.ASCII.GetBytes(name + "\0");
        for (ulong i = 1; i < count; i++)
        {
            if (Header(i) is not { } section || section.Name >= (ulong)nameTable.Length)
                return null;
            if (nameTable.AsSpan((int)section.Name).StartsWith(wanted))
                return Contents(elf, section);
        }
        return null;
    }

    private static byte[]? Contents(byte[] elf, Section section) =>
        section.Offset <= (ulong)elf.Length && section.Size <= (ulong)elf.Length - section.Offset ? elf.AsSpan((int)section.Offset, (int)section.Size).ToArray() : null;

    private readonly record struct Section(ulong Name, ulong Offset, ulong Size, ulong Link);

    private readonly struct ElfReader(byte[] bytes, bool littleEndian)
    {
        public ushort U16(int at) => littleEndian ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(at)) : BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(at));

        public uint U32(int at) => littleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)) : BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at));

        public ulong U64(int at) => littleEndian ? BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at)) : BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(at));
    }
}
