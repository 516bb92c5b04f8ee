using Broker.Server.Listeners;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Broker.Server.Tests.Listeners;

/// <summary>The descriptor budget's reserve: a tenth of the limit by default, <c>listener.fd_reserve</c> when set.</summary>
public sealed class ConnectionBudgetTests
{
    [Fact]
    public void FdReserve_Set_KeepsThatManyInsteadOfATenth()
    {
        if (!OperatingSystem.IsLinux())
            return; // the budget is Linux's only
        var byDefault = new LinesLogger();
        var budget = ConnectionBudget.FromFileDescriptorLimit(byDefault);
        var limit = long.Parse(byDefault.Lines.Single().Split(' ')[3], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains($"keeping {Math.Max(128, limit / 10)} for", byDefault.Lines.Single(), StringComparison.Ordinal);

        var set = new LinesLogger();
        var reserved = ConnectionBudget.FromFileDescriptorLimit(set, 100);
        Assert.Contains("keeping 100 for", set.Lines.Single(), StringComparison.Ordinal);
        // What else the process has open moves a little between the two reads.
        Assert.InRange(reserved.Max - budget.Max, Math.Max(128, limit / 10) - 100 - 20, Math.Max(128, limit / 10) - 100 + 20);
    }

    private sealed class LinesLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
