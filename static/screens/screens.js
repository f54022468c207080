// The enrolment link's copy button; without JavaScript the link is still there to select.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  const copied = () => { button.textContent = button.dataset.copied; };
  input.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(input.value).then(copied, () => {
      if (document.execCommand("copy")) copied();
    });
  } else if (document.execCommand("copy")) {
    copied();
  }
});
