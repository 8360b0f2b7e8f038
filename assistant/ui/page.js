// The web UI's page script (passed to Gradio's launch(js=...) by assistant/ui/app.py).
// Answers are HTML with no script of their own (Gradio strips event handlers and
// data-* attributes), so behaviour hangs off class names here, by event delegation:
//  - a citation marker a.pa-cite shows its quote tip on hover (CSS); a click scrolls to
//    its source card (href "#<answer>-src-<n>"), opening the folded lists around it, and
//    highlights it; on a touch screen the first tap shows the tip, a second tap (on the
//    marker or its tip) goes to the card;
//  - a .pa-copy button copies the answer's Markdown (the hidden .pa-md next to it);
//  - on a narrow screen the filters (#pa-filters) start folded.
() => {
  if (window.__paperAssistant) return;
  window.__paperAssistant = true;

  const closeTips = (except) => {
    document.querySelectorAll("a.pa-cite.pa-open").forEach((a) => { if (a !== except) a.classList.remove("pa-open"); });
  };

  const showCard = (marker) => {
    const id = (marker.getAttribute("href") || "").replace(/^#/, "");
    const card = id && document.getElementById(id);
    if (!card) return false;
    for (let el = card.parentElement; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") el.open = true;
    }
    card.scrollIntoView({ behavior: "auto", block: "center" });
    card.classList.add("pa-hl");
    setTimeout(() => card.classList.remove("pa-hl"), 2500);
    return true;
  };

  const copyText = async (text) => {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (err) {
      const area = document.createElement("textarea");
      area.value = text;
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      return ok;
    }
  };

  document.addEventListener("click", async (ev) => {
    const marker = ev.target.closest && ev.target.closest("a.pa-cite");
    if (marker) {
      ev.preventDefault();
      closeTips(marker);
      if (ev.pointerType === "touch" && !marker.classList.contains("pa-open")) {
        marker.classList.add("pa-open"); // a tap: the quote first
        return;
      }
      marker.classList.remove("pa-open");
      showCard(marker);
      return;
    }
    const copy = ev.target.closest && ev.target.closest(".pa-copy");
    if (copy) {
      ev.preventDefault();
      const source = copy.parentElement && copy.parentElement.querySelector(".pa-md");
      const ok = source ? await copyText(source.textContent) : false;
      copy.textContent = ok ? "Copied" : "Copy failed";
      setTimeout(() => { copy.textContent = "Copy"; }, 2000);
      return;
    }
    closeTips(null);
  });
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeTips(null); });

  // On a phone the filters start folded: once, as soon as Gradio has drawn them.
  if (window.matchMedia("(max-width: 720px)").matches) {
    const fold = () => {
      const toggle = document.querySelector("#pa-filters button.label-wrap");
      if (!toggle) return false;
      if (toggle.classList.contains("open")) toggle.click();
      return true;
    };
    if (!fold()) {
      const watch = new MutationObserver(() => { if (fold()) watch.disconnect(); });
      watch.observe(document.body, { childList: true, subtree: true });
    }
  }
}
