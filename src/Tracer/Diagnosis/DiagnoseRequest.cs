using System.Net;

namespace Tracer.Diagnosis;

/// <summary>What <c>tracer diagnose</c> was asked.</summary>
internal sealed record DiagnoseRequest(string? Pod, IPAddress? Address, int? Port, string? Path, bool FromPod, TimeSpan Duration);
