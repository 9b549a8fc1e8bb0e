using k8s.Models;

namespace Tracer.Discovery;

/// <summary>A label selector as kubectl writes it (apimachinery's FormatLabelSelector): requirements sorted by key, values sorted.</summary>
internal static class LabelSelectors
{
    /// <summary><c>app=web,tier in (back,front),!legacy</c>; "" selects every pod, as an empty podSelector does.</summary>
    public static string Format(V1LabelSelector? selector)
    {
        if (selector is null)
            return "";
        var requirements = (selector.MatchLabels ?? new Dictionary<string, string>()).Select(l => (l.Key, Text: $"{l.Key}={l.Value}"))
            .Concat((selector.MatchExpressions ?? []).Select(e => (e.Key, Text: Expression(e))));
        return string.Join(",", requirements.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => r.Text));
    }

    private static string Expression(V1LabelSelectorRequirement requirement)
    {
        var values = string.Join(",", (requirement.Values ?? []).Order(StringComparer.Ordinal));
        return requirement.OperatorProperty switch
        {
            "In" => $"{requirement.Key} in ({values})",
            "NotIn" => $"{requirement.Key} notin ({values})",
            "Exists" => requirement.Key,
            "DoesNotExist" => $"!{requirement.Key}",
            var other => $"{requirement.Key} {other} ({values})", // not an operator the API accepts: shown, not hidden
        };
    }
}
