using System.Buffers.Binary;
using System.Text;

namespace Tracer.BindingGenerator;

/// <summary>A BPF program of a compiled object: its function's name, and the section that says how libbpf attaches it.</summary>
internal sealed record BpfProgramModel(string Name, string Section);

/// <summary>
/// What libbpf will find in a compiled bpf/*.bpf.o, read from its ELF symbol table the way libbpf's
/// bpf_object__open reads it: programs are the functions of executable sections other than .text (which
/// holds subprograms), BTF-defined maps are the symbols of <c>.maps</c>, and each non-empty global-data
/// section (.data*, .rodata*, .bss*) is a map named as the section.
/// </summary>
internal sealed record BpfObjectModel(string File, IReadOnlyList<BpfProgramModel> Programs, IReadOnlyList<string> Maps)
{
    private const uint SHF_EXECINSTR = 0x4;
    private const uint SHT_SYMTAB = 2;
    private const int STT_OBJECT = 1;
    private const int STT_FUNC = 2;

    public static BpfObjectModel Read(string path)
    {
        var elf = System.IO.File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != 'E' || elf[2] != 'L' || elf[3] != 'F' || elf[4] != 2 || elf[5] != 1)
            throw new InvalidOperationException($"{path} is not a little-endian ELF64 object");
        var sections = ReadSections(elf);
        var names = sections[BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(62))];
        string SectionName(Section s) => CString(elf, names.Offset + s.Name);

        var symtab = sections.SingleOrDefault(s => s.Type == SHT_SYMTAB)
            ?? throw new InvalidOperationException($"{path} has no symbol table");
        var strings = sections[(int)symtab.Link];
        var programs = new List<BpfProgramModel>();
        var maps = new List<string>();
        for (var offset = symtab.Offset + 24; offset + 24 <= symtab.Offset + symtab.Size; offset += 24)
        {
            var symbol = elf.AsSpan((int)offset, 24);
            var type = symbol[4] & 0xf;
            var index = BinaryPrimitives.ReadUInt16LittleEndian(symbol[6..]);
            if (index == 0 || index >= sections.Count)
                continue;
            var section = sections[index];
            var sectionName = SectionName(section);
            var name = CString(elf, strings.Offset + BinaryPrimitives.ReadUInt32LittleEndian(symbol));
            if (type == STT_FUNC && (section.Flags & SHF_EXECINSTR) != 0 && sectionName != ".text")
                programs.Add(new BpfProgramModel(name, sectionName));
            else if (type == STT_OBJECT && sectionName == ".maps")
                maps.Add(name);
        }
        maps.AddRange(sections.Where(s => s.Size > 0).Select(SectionName).Where(IsGlobalData));
        return new BpfObjectModel(Path.GetFileName(path),
                                  [.. programs.OrderBy(p => p.Name, StringComparer.Ordinal)],
                                  [.. maps.Distinct().Order(StringComparer.Ordinal)]);
    }

    private static bool IsGlobalData(string section) =>
        section is ".data" or ".rodata" or ".bss" || section.StartsWith(".data.", StringComparison.Ordinal) ||
        section.StartsWith(".rodata.", StringComparison.Ordinal) || section.StartsWith(".bss.", StringComparison.Ordinal);

    private sealed record Section(uint Name, uint Type, ulong Flags, ulong Offset, ulong Size, uint Link);

    private static List<Section> ReadSections(byte[] elf)
    {
        var header = elf.AsSpan();
        var offset = BinaryPrimitives.ReadUInt64LittleEndian(header[40..]);
        var entrySize = BinaryPrimitives.ReadUInt16LittleEndian(header[58..]);
        var count = BinaryPrimitives.ReadUInt16LittleEndian(header[60..]);
        var sections = new List<Section>(count);
        for (var i = 0; i < count; i++)
        {
            var s = header[(int)(offset + (ulong)(i * entrySize))..];
            sections.Add(new Section(BinaryPrimitives.ReadUInt32LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
                                     BinaryPrimitives.ReadUInt64LittleEndian(s[8..]), BinaryPrimitives.ReadUInt64LittleEndian(s[24..]),
                                     BinaryPrimitives.ReadUInt64LittleEndian(s[32..]), BinaryPrimitives.ReadUInt32LittleEndian(s[40..])));
        }
        return sections;
    }

    private static string CString(byte[] elf, ulong offset)
    {
        var start = (int)offset;
        var end = Array.IndexOf(elf, (byte)0, start);
        return Encoding.UTF8.GetString(elf, start, end - start);
    }
}
